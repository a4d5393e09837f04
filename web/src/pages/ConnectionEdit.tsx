/** Make a connection from a source, or see one (the schema-change mail's link,
 * `/orgs/<org>/connections/<id>`): sync now, and its last syncs with records per stream. */
import { Button, Card, Checkbox, Group, Select, Stack, TagsInput, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import { createConnection, deleteConnection, listOrgSources, listRuns, readConnection, syncConnection, updateConnection } from "../client";
import { ErrorAlert, Loading, NotFound, PageHeader, RunLink, StateBadge } from "../components/common";
import { SyncStreams } from "../components/results";
import { RunProgress, useRun } from "../components/runs";
import { call, isNotFound } from "../errors";
import { formatDuration, formatTime } from "../format";

function LastSyncs({ org, connectionId }: { org: string; connectionId: string }) {
  const runs = useQuery({
    queryKey: ["runs", org, { connection_id: connectionId, limit: 5 }],
    queryFn: () => call(listRuns({ path: { org }, query: { connection_id: connectionId, limit: 5 } })),
    refetchInterval: 5000,
  });
  const latest = runs.data?.data.find((run) => run.state === "completed" || run.state === "completed_with_warnings");
  const detail = useRun(org, latest?.id);
  const result = detail.data?.result as { streams?: Record<string, { records: number }> } | null | undefined;
  return (
    <Card withBorder component="section" aria-label="Last syncs">
      <Title order={4} mb="xs">
        Last syncs
      </Title>
      <ErrorAlert error={runs.error} />
      {runs.data?.count === 0 ? <Text c="dimmed">Never synced.</Text> : null}
      {runs.data?.data.map((run) => (
        <Group key={run.id} gap="xs">
          <StateBadge state={run.state} />
          <RunLink org={org} id={run.id}>
            {formatTime(run.start_time)}
          </RunLink>
          <Text size="sm" c="dimmed">
            {formatDuration(run.duration_s)} · {run.triggered_by}
          </Text>
        </Group>
      ))}
      {result?.streams ? (
        <Stack gap={4} mt="sm">
          <Text size="sm" fw={500}>
            Records per stream in the last completed sync
          </Text>
          <SyncStreams result={{ streams: result.streams }} />
        </Stack>
      ) : null}
    </Card>
  );
}

export default function ConnectionEdit() {
  const org = useOrg();
  const { connectionId } = useParams();
  const [params] = useSearchParams();
  const can = useCan();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const editable = connectionId ? can("can_edit_connection") : can("can_create_connection");
  const existing = useQuery({
    queryKey: ["connection", org, connectionId],
    queryFn: () => call(readConnection({ path: { org, connection_id: connectionId ?? "" } })),
    enabled: Boolean(connectionId),
    refetchInterval: 5000,
  });
  const sources = useQuery({
    queryKey: ["sources", org],
    queryFn: () => call(listOrgSources({ path: { org }, query: { limit: 200 } })),
  });
  const [name, setName] = useState("");
  const [sourceId, setSourceId] = useState<string | null>(params.get("source"));
  const [allStreams, setAllStreams] = useState(true);
  const [streams, setStreams] = useState<string[]>([]);
  const [schema, setSchema] = useState("raw");
  const [loaded, setLoaded] = useState(false);
  const [syncRun, setSyncRun] = useState<string | null>(null);
  useEffect(() => {
    if (existing.data && !loaded) {
      setName(existing.data.name);
      setSourceId(existing.data.source_id);
      setAllStreams(existing.data.streams === null);
      setStreams(existing.data.streams ?? []);
      setSchema(existing.data.destination_schema);
      setLoaded(true);
    }
  }, [existing.data, loaded]);
  const save = useMutation({
    mutationFn: () => {
      const chosen = allStreams ? null : streams;
      return connectionId
        ? call(updateConnection({ path: { org, connection_id: connectionId }, body: { name, streams: chosen, destination_schema: schema } }))
        : call(createConnection({ path: { org }, body: { name, source_id: sourceId ?? "", streams: chosen, destination_schema: schema } }));
    },
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["connections", org] });
      queryClient.setQueryData(["connection", org, saved.id], saved);
      if (!connectionId) navigate(`/orgs/${org}/connections/${saved.id}`);
    },
  });
  const sync = useMutation({
    mutationFn: () => call(syncConnection({ path: { org, connection_id: connectionId ?? "" } })),
    onSuccess: (started) => {
      setSyncRun(started.flow_run_id);
      void queryClient.invalidateQueries({ queryKey: ["connection", org, connectionId] });
    },
  });
  const remove = useMutation({
    mutationFn: () => call(deleteConnection({ path: { org, connection_id: connectionId ?? "" } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["connections", org] });
      navigate(`/orgs/${org}/connections`);
    },
  });
  if (connectionId && isNotFound(existing.error)) return <NotFound what="connection" />;
  if (connectionId && existing.isPending) return <Loading />;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <Stack>
      <PageHeader title={connectionId ? (existing.data?.name ?? "Connection") : "New connection"}>
        {connectionId && can("can_sync_connection") ? (
          <Button onClick={() => sync.mutate()} loading={sync.isPending}>
            Sync now
          </Button>
        ) : null}
      </PageHeader>
      <ErrorAlert error={sync.error} org={org} />
      {existing.data?.locked_by ? (
        <Text size="sm">
          Syncing now: <RunLink org={org} id={existing.data.locked_by.id} />
        </Text>
      ) : null}
      {syncRun ? (
        <RunProgress key={syncRun} org={org} runId={syncRun} label="Sync">
          {(run) => {
            const result = run.result as { streams?: Record<string, { records: number }> } | null;
            return result?.streams ? <SyncStreams result={{ streams: result.streams }} /> : null;
          }}
        </RunProgress>
      ) : null}
      <form onSubmit={submit} aria-label="Connection">
        <fieldset disabled={!editable} style={{ border: 0, padding: 0, margin: 0 }}>
          <Card withBorder>
            <Stack maw={560}>
              <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
              <Select
                label="Source"
                required
                disabled={Boolean(connectionId)}
                data={sources.data?.data.map((s) => ({ value: s.id, label: s.name })) ?? []}
                value={sourceId}
                onChange={setSourceId}
              />
              <TextInput label="Warehouse schema to write into" required value={schema} onChange={(e) => setSchema(e.currentTarget.value)} />
              <Checkbox label="Sync all the source's streams" checked={allStreams} onChange={(e) => setAllStreams(e.currentTarget.checked)} />
              {!allStreams ? (
                <TagsInput label="Streams" description="Type a stream's name and press Enter." value={streams} onChange={setStreams} />
              ) : null}
              <ErrorAlert error={save.error} />
              {editable ? (
                <Group>
                  <Button type="submit" loading={save.isPending}>
                    {connectionId ? "Save connection" : "Create connection"}
                  </Button>
                </Group>
              ) : null}
            </Stack>
          </Card>
        </fieldset>
      </form>
      {connectionId ? <LastSyncs org={org} connectionId={connectionId} /> : null}
      {connectionId && can("can_delete_connection") ? (
        <Group>
          <Button color="red" variant="subtle" onClick={() => window.confirm(`Delete the connection ${name}?`) && remove.mutate()} loading={remove.isPending}>
            Delete connection
          </Button>
          <ErrorAlert error={remove.error} />
        </Group>
      ) : null}
    </Stack>
  );
}
