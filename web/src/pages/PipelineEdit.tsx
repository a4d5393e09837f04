/** Build a pipeline from steps (syncs and dbt commands, in order) with an optional schedule in a
 * time zone, shown in words with its next run times; or see and change one. */
import { ActionIcon, Autocomplete, Button, Card, Checkbox, Group, Select, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import type { PipelineCreate, PipelinePublic } from "../client";
import { createPipeline, deletePipeline, listConnections, listRuns, readPipeline, updatePipeline } from "../client";
import { ErrorAlert, Loading, NotFound, PageHeader, RunLink, StateBadge } from "../components/common";
import { PipelineActions } from "../components/PipelineActions";
import { call, isNotFound } from "../errors";
import { cronInWords, formatTime, nextRunTimes } from "../format";

const DBT_COMMANDS = ["git-pull", "deps", "seed", "run", "test", "build", "docs-generate", "clean"];

type Step = { type: "sync"; connection_id: string } | { type: "dbt"; command: string; select: string };

/** The time zones the browser knows, to suggest while typing (any IANA name may be typed). */
const TIME_ZONES: string[] = (() => {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf?.("timeZone") ?? [];
  return zones.includes("UTC") ? zones : ["UTC", ...zones];
})();

function stepsOf(pipeline: PipelinePublic): Step[] {
  return pipeline.steps.map((raw) => {
    const step = raw as { type: string; connection_id?: string; command?: string; select?: string | null };
    return step.type === "sync"
      ? { type: "sync", connection_id: String(step.connection_id ?? "") }
      : { type: "dbt", command: String(step.command ?? "run"), select: step.select ?? "" };
  });
}

function NextRuns({ cron, timezone }: { cron: string; timezone: string }) {
  const [times, setTimes] = useState<string[]>([]);
  useEffect(() => {
    let current = true;
    void nextRunTimes(cron, timezone).then((found) => current && setTimes(found));
    return () => {
      current = false;
    };
  }, [cron, timezone]);
  if (times.length === 0) return null;
  return (
    <Text size="sm" c="dimmed" data-testid="next-runs">
      Next runs: {times.map((time) => formatTime(time)).join(" · ")}
    </Text>
  );
}

function RecentRuns({ org, pipelineId }: { org: string; pipelineId: string }) {
  const runs = useQuery({
    queryKey: ["runs", org, { pipeline_id: pipelineId, limit: 5 }],
    queryFn: () => call(listRuns({ path: { org }, query: { pipeline_id: pipelineId, limit: 5 } })),
    refetchInterval: 5000,
  });
  return (
    <Card withBorder component="section" aria-label="Recent runs">
      <Title order={4} mb="xs">
        Recent runs
      </Title>
      <ErrorAlert error={runs.error} />
      {runs.data?.count === 0 ? <Text c="dimmed">Not run yet.</Text> : null}
      {runs.data?.data.map((run) => (
        <Group key={run.id} gap="xs">
          <StateBadge state={run.state} />
          <RunLink org={org} id={run.id}>
            {run.start_time ? formatTime(run.start_time) : "not started yet"}
          </RunLink>
          <Text size="sm" c="dimmed">
            by {run.triggered_by}
          </Text>
        </Group>
      ))}
    </Card>
  );
}

export default function PipelineEdit() {
  const org = useOrg();
  const { pipelineId } = useParams();
  const can = useCan();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const editable = pipelineId ? can("can_edit_pipeline") : can("can_create_pipeline");
  const existing = useQuery({
    queryKey: ["pipeline", org, pipelineId],
    queryFn: () => call(readPipeline({ path: { org, pipeline_id: pipelineId ?? "" } })),
    enabled: Boolean(pipelineId),
  });
  const connections = useQuery({
    queryKey: ["connections", org],
    queryFn: () => call(listConnections({ path: { org }, query: { limit: 200 } })),
  });
  const [name, setName] = useState("");
  const [steps, setSteps] = useState<Step[]>([]);
  const [scheduled, setScheduled] = useState(false);
  const [cron, setCron] = useState("0 6 * * *");
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const [continueOnSyncFailure, setContinueOnSyncFailure] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  useEffect(() => {
    if (existing.data && !loaded) {
      setName(existing.data.name);
      setSteps(stepsOf(existing.data));
      setScheduled(existing.data.schedule !== null);
      if (existing.data.schedule) {
        setCron(existing.data.schedule.cron);
        setTimezone(existing.data.schedule.timezone ?? "UTC");
      }
      setContinueOnSyncFailure(existing.data.continue_on_sync_failure);
      setLoaded(true);
    }
  }, [existing.data, loaded]);

  const body = (): PipelineCreate => ({
    name,
    steps: steps.map((step) =>
      step.type === "sync" ? { type: "sync", connection_id: step.connection_id } : { type: "dbt", command: step.command, select: step.select.trim() || null },
    ),
    schedule: scheduled ? { cron: cron.trim(), timezone } : null,
    continue_on_sync_failure: continueOnSyncFailure,
  });
  const save = useMutation({
    mutationFn: () =>
      pipelineId
        ? call(updatePipeline({ path: { org, pipeline_id: pipelineId }, body: body() }))
        : call(createPipeline({ path: { org }, body: body() })),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: ["pipelines", org] });
      queryClient.setQueryData(["pipeline", org, saved.id], saved);
      navigate(`/orgs/${org}/pipelines/${saved.id}`);
    },
  });
  const remove = useMutation({
    mutationFn: () => call(deletePipeline({ path: { org, pipeline_id: pipelineId ?? "" } })),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["pipelines", org] });
      navigate(`/orgs/${org}/pipelines`);
    },
  });

  if (pipelineId && isNotFound(existing.error)) return <NotFound what="pipeline" />;
  if (pipelineId && existing.isPending) return <Loading />;
  const connectionOptions = connections.data?.data.map((c) => ({ value: c.id, label: c.name })) ?? [];
  const words = scheduled ? cronInWords(cron, timezone) : null;
  const move = (index: number, by: number) =>
    setSteps((current) => {
      const next = [...current];
      const [step] = next.splice(index, 1);
      next.splice(index + by, 0, step);
      return next;
    });
  const change = (index: number, step: Step) => setSteps((current) => current.map((s, i) => (i === index ? step : s)));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <Stack>
      <PageHeader title={pipelineId ? (existing.data?.name ?? "Pipeline") : "New pipeline"}>
        {existing.data ? <PipelineActions org={org} pipeline={existing.data} onError={setActionError} /> : null}
      </PageHeader>
      <ErrorAlert error={actionError} org={org} />
      <ErrorAlert error={existing.error} />
      <form onSubmit={submit} aria-label="Pipeline">
        <fieldset disabled={!editable} style={{ border: 0, padding: 0, margin: 0 }}>
          <Stack>
            <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} maw={480} />
            <Card withBorder component="section" aria-label="Steps">
              <Title order={4} mb="xs">
                Steps, in order
              </Title>
              <Stack gap="xs">
                {steps.length === 0 ? <Text c="dimmed">No steps yet: add a sync or a dbt command.</Text> : null}
                {steps.map((step, index) => (
                  <Group key={index} align="flex-end" wrap="nowrap" data-testid="pipeline-step">
                    <Text w={24} fw={600}>
                      {index + 1}.
                    </Text>
                    {step.type === "sync" ? (
                      <Select
                        label={`Step ${index + 1}: sync connection`}
                        data={connectionOptions}
                        value={step.connection_id || null}
                        onChange={(value) => change(index, { type: "sync", connection_id: value ?? "" })}
                        w={320}
                        required
                      />
                    ) : (
                      <>
                        <Select
                          label={`Step ${index + 1}: dbt command`}
                          data={DBT_COMMANDS}
                          value={step.command}
                          allowDeselect={false}
                          onChange={(value) => change(index, { ...step, command: value ?? "run" })}
                          w={180}
                        />
                        <TextInput
                          label="Select (optional)"
                          placeholder="e.g. staging+"
                          value={step.select}
                          onChange={(e) => change(index, { ...step, select: e.currentTarget.value })}
                        />
                      </>
                    )}
                    {editable ? (
                      <Group gap={4} wrap="nowrap">
                        <ActionIcon variant="subtle" aria-label={`Move step ${index + 1} up`} disabled={index === 0} onClick={() => move(index, -1)}>
                          ↑
                        </ActionIcon>
                        <ActionIcon variant="subtle" aria-label={`Move step ${index + 1} down`} disabled={index === steps.length - 1} onClick={() => move(index, 1)}>
                          ↓
                        </ActionIcon>
                        <ActionIcon variant="subtle" color="red" aria-label={`Remove step ${index + 1}`} onClick={() => setSteps((current) => current.filter((_, i) => i !== index))}>
                          ✕
                        </ActionIcon>
                      </Group>
                    ) : null}
                  </Group>
                ))}
                {editable ? (
                  <Group gap="xs">
                    <Button variant="light" onClick={() => setSteps((current) => [...current, { type: "sync", connection_id: connectionOptions[0]?.value ?? "" }])}>
                      Add a sync
                    </Button>
                    <Button variant="light" onClick={() => setSteps((current) => [...current, { type: "dbt", command: "run", select: "" }])}>
                      Add a dbt command
                    </Button>
                  </Group>
                ) : null}
                <Checkbox
                  label="Go on with the dbt steps when a sync fails"
                  checked={continueOnSyncFailure}
                  onChange={(e) => setContinueOnSyncFailure(e.currentTarget.checked)}
                />
              </Stack>
            </Card>
            <Card withBorder component="section" aria-label="Schedule">
              <Title order={4} mb="xs">
                Schedule
              </Title>
              <Stack gap="xs">
                <Switch label="Run on a schedule" checked={scheduled} onChange={(e) => setScheduled(e.currentTarget.checked)} />
                {scheduled ? (
                  <>
                    <Group align="flex-start">
                      <TextInput
                        label="Cron expression"
                        description="minute hour day-of-month month day-of-week"
                        value={cron}
                        onChange={(e) => setCron(e.currentTarget.value)}
                        error={words === null ? "This is not a cron expression." : undefined}
                        required
                      />
                      <Autocomplete
                        label="Time zone"
                        description="An IANA name, e.g. Asia/Kolkata"
                        data={TIME_ZONES}
                        limit={20}
                        value={timezone}
                        onChange={setTimezone}
                        required
                      />
                    </Group>
                    {words ? (
                      <Text size="sm" data-testid="schedule-words">
                        {words}
                      </Text>
                    ) : null}
                    <NextRuns cron={cron} timezone={timezone} />
                  </>
                ) : (
                  <Text size="sm" c="dimmed">
                    Manual only: it runs when someone presses Run now.
                  </Text>
                )}
              </Stack>
            </Card>
            <ErrorAlert error={save.error} org={org} />
            {editable ? (
              <Group>
                <Button type="submit" loading={save.isPending}>
                  {pipelineId ? "Save changes" : "Create pipeline"}
                </Button>
              </Group>
            ) : null}
          </Stack>
        </fieldset>
      </form>
      {pipelineId && can("can_delete_pipeline") ? (
        <Group>
          <Button color="red" variant="subtle" onClick={() => window.confirm(`Delete the pipeline ${name}?`) && remove.mutate()} loading={remove.isPending}>
            Delete pipeline
          </Button>
          <ErrorAlert error={remove.error} />
        </Group>
      ) : null}
      {pipelineId ? <RecentRuns org={org} pipelineId={pipelineId} /> : null}
    </Stack>
  );
}
