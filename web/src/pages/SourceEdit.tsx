/** Make a source from a connector's form, or see and change one: check it and discover its
 * streams as runs the page follows, then make a connection from it. */
import { Anchor, Button, Card, Group, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import { checkSource, createSource, deleteSource, discoverSource, listSourceDefinitions, readSource, readSourceDefinitionSpec, updateSource } from "../client";
import { ErrorAlert, Loading, NotFound, PageHeader } from "../components/common";
import { CheckResult, RunProgress } from "../components/runs";
import { call, isNotFound } from "../errors";

const SpecForm = lazy(() => import("../components/SpecForm"));

type Config = Record<string, unknown>;

function Operations({ org, sourceId }: { org: string; sourceId: string }) {
  const [checkRun, setCheckRun] = useState<string | null>(null);
  const [discoverRun, setDiscoverRun] = useState<string | null>(null);
  const check = useMutation({
    mutationFn: () => call(checkSource({ path: { org, source_id: sourceId } })),
    onSuccess: (started) => setCheckRun(started.flow_run_id),
  });
  const discover = useMutation({
    mutationFn: () => call(discoverSource({ path: { org, source_id: sourceId } })),
    onSuccess: (started) => setDiscoverRun(started.flow_run_id),
  });
  return (
    <Card withBorder component="section" aria-label="Check and discover">
      <Stack gap="xs">
        <Group>
          <Button variant="light" onClick={() => check.mutate()} loading={check.isPending}>
            Check the connection
          </Button>
          <Button variant="light" onClick={() => discover.mutate()} loading={discover.isPending}>
            Discover streams
          </Button>
        </Group>
        <ErrorAlert error={check.error ?? discover.error} org={org} />
        {checkRun ? <RunProgress key={checkRun} org={org} runId={checkRun} label="Check">{(run) => <CheckResult run={run} />}</RunProgress> : null}
        {discoverRun ? (
          <RunProgress key={discoverRun} org={org} runId={discoverRun} label="Discover">
            {(run) => {
              const streams = (run.result as { streams?: { name: string }[] } | null)?.streams ?? [];
              return (
                <Stack gap={4} data-testid="discovered-streams">
                  <Text size="sm">
                    {streams.length} streams: {streams.map((stream) => stream.name).join(", ")}
                  </Text>
                  <Anchor component={Link} to={`/orgs/${org}/connections/new?source=${sourceId}`} size="sm">
                    Make a connection from this source
                  </Anchor>
                </Stack>
              );
            }}
          </RunProgress>
        ) : null}
      </Stack>
    </Card>
  );
}

export default function SourceEdit() {
  const org = useOrg();
  const { sourceId } = useParams();
  const can = useCan();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const editable = sourceId ? can("can_edit_source") : can("can_create_source");
  const existing = useQuery({
    queryKey: ["source", org, sourceId],
    queryFn: () => call(readSource({ path: { org, source_id: sourceId ?? "" } })),
    enabled: Boolean(sourceId),
  });
  const definitions = useQuery({
    queryKey: ["source-definitions", org],
    queryFn: () => call(listSourceDefinitions({ path: { org } })),
    staleTime: 5 * 60_000,
  });
  const [definition, setDefinition] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [config, setConfig] = useState<Config>({});
  useEffect(() => {
    if (existing.data) {
      setDefinition(existing.data.definition);
      setName(existing.data.name);
      setConfig(existing.data.config as Config);
    }
  }, [existing.data]);
  const spec = useQuery({
    queryKey: ["source-spec", org, definition],
    queryFn: () => call(readSourceDefinitionSpec({ path: { org, name: definition ?? "" } })),
    enabled: Boolean(definition),
    staleTime: 10 * 60_000,
  });
  const save = useMutation({
    mutationFn: (values: Config) =>
      sourceId
        ? call(updateSource({ path: { org, source_id: sourceId }, body: { name, config: values } }))
        : call(createSource({ path: { org }, body: { name, definition: definition ?? "", config: values } })),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["sources", org] });
      queryClient.setQueryData(["source", org, saved.id], saved);
      setConfig(saved.config as Config);
      if (!sourceId) navigate(`/orgs/${org}/sources/${saved.id}`);
    },
  });
  const remove = useMutation({
    mutationFn: () => call(deleteSource({ path: { org, source_id: sourceId ?? "" } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["sources", org] });
      navigate(`/orgs/${org}/sources`);
    },
  });
  if (sourceId && isNotFound(existing.error)) return <NotFound what="source" />;
  if (sourceId && existing.isPending) return <Loading />;
  return (
    <Stack>
      <PageHeader title={sourceId ? (existing.data?.name ?? "Source") : "New source"} description="Secrets are shown masked; leave them as they are to keep the saved value." />
      <ErrorAlert error={existing.error} />
      <Card withBorder>
        <Stack>
          <Group align="flex-end">
            <Select
              label="Connector"
              searchable
              required
              disabled={Boolean(sourceId) || !editable}
              data={definitions.data?.map((d) => ({ value: d.name, label: d.title })) ?? []}
              value={definition}
              onChange={(value) => {
                setDefinition(value);
                setConfig({});
              }}
              w={320}
            />
            <TextInput label="Source name" required value={name} disabled={!editable} onChange={(e) => setName(e.currentTarget.value)} w={320} />
          </Group>
          {definition ? (
            <>
              <Title order={4}>Configuration</Title>
              {spec.isPending ? <Loading label="Reading the connector's form (the first time installs it)…" /> : null}
              <ErrorAlert error={spec.error} />
              {spec.data ? (
                <Suspense fallback={<Loading />}>
                  <SpecForm key={definition} spec={spec.data as Record<string, unknown>} config={config} disabled={!editable} onChange={setConfig} onSubmit={(values) => save.mutate(values)}>
                    <Stack mt="md">
                      <ErrorAlert error={save.error} />
                      {save.isSuccess && sourceId ? (
                        <Text c="teal.8" size="sm" role="status">
                          Saved.
                        </Text>
                      ) : null}
                      {editable ? (
                        <Group>
                          <Button type="submit" loading={save.isPending} disabled={!name}>
                            {sourceId ? "Save source" : "Create source"}
                          </Button>
                        </Group>
                      ) : null}
                    </Stack>
                  </SpecForm>
                </Suspense>
              ) : null}
            </>
          ) : (
            <Text c="dimmed">Choose a connector to see its form.</Text>
          )}
        </Stack>
      </Card>
      {sourceId && can("can_edit_source") ? <Operations org={org} sourceId={sourceId} /> : null}
      {sourceId && can("can_create_connection") ? (
        <Anchor component={Link} to={`/orgs/${org}/connections/new?source=${sourceId}`}>
          Make a connection from this source
        </Anchor>
      ) : null}
      {sourceId && can("can_delete_source") ? (
        <Group>
          <Button color="red" variant="subtle" onClick={() => window.confirm(`Delete the source ${name}?`) && remove.mutate()} loading={remove.isPending}>
            Delete source
          </Button>
          <ErrorAlert error={remove.error} />
        </Group>
      ) : null}
    </Stack>
  );
}
