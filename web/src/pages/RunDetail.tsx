/** One run (the failure mail's link, `/orgs/<org>/runs/<id>`): its state and steps updating while
 * it goes on, its result, its logs as they arrive (level filter), and cancel. */
import { Button, Card, Code, Group, ScrollArea, SegmentedControl, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useParams } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import type { LogPublic, ReadRunLogsData } from "../client";
import { cancelRun, readRunLogs } from "../client";
import { ErrorAlert, Loading, NotFound, PageHeader, StateBadge } from "../components/common";
import { RunResult } from "../components/results";
import { POLL_MS, useRun } from "../components/runs";
import { call, isNotFound } from "../errors";
import { formatDuration, formatTime, isFinal } from "../format";

type Level = NonNullable<NonNullable<ReadRunLogsData["query"]>["level"]>;
const LOG_PAGE = 200;
const AUTO_LINES = 5000;
/** Logs may reach Prefect a moment after the run ended: keep looking for this long. */
const TAIL_MS = 8000;

/** The run's logs from the first line, following new ones while the run goes on. */
function useRunLogs(org: string, runId: string, level: Level | null, final: boolean) {
  const [lines, setLines] = useState<LogPublic[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [more, setMore] = useState(false);
  const [budget, setBudget] = useState(AUTO_LINES);
  const finalAt = useRef<number | null>(null);
  const budgetRef = useRef(budget);
  budgetRef.current = budget;
  if (final && finalAt.current === null) finalAt.current = Date.now();
  const finalRef = useRef(final);
  finalRef.current = final;

  useEffect(() => {
    let stopped = false;
    let offset = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setLines([]);
    setMore(false);
    const tick = async () => {
      try {
        let seen = 0;
        for (;;) {
          const page = await call(readRunLogs({ path: { org, run_id: runId }, query: { offset, limit: LOG_PAGE, level } }));
          if (stopped) return;
          const next = page.next_offset ?? offset + page.data.length;
          offset = next;
          seen += page.data.length;
          if (page.data.length > 0) setLines((previous) => [...previous, ...page.data]);
          if (page.next_offset == null) {
            setMore(false);
            break;
          }
          if (seen >= budgetRef.current) {
            setMore(true);
            return;
          }
        }
        setError(null);
      } catch (caught) {
        if (!stopped) setError(caught);
      }
      const settled = finalRef.current && finalAt.current !== null && Date.now() - finalAt.current > TAIL_MS;
      if (!stopped && !settled) timer = setTimeout(tick, POLL_MS);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [org, runId, level, budget]);
  return { lines, error, more, loadMore: () => setBudget((value) => value + AUTO_LINES) };
}

function levelColor(level: string): string | undefined {
  const upper = level.toUpperCase();
  if (upper === "ERROR" || upper === "CRITICAL") return "red.7";
  if (upper === "WARNING") return "orange.7";
  if (upper === "DEBUG") return "dimmed";
  return undefined;
}

function Logs({ org, runId, final }: { org: string; runId: string; final: boolean }) {
  const [level, setLevel] = useState<string>("all");
  const logs = useRunLogs(org, runId, level === "all" ? null : (level as Level), final);
  return (
    <Card withBorder component="section" aria-label="Logs">
      <Group justify="space-between" mb="xs">
        <Title order={4}>Logs</Title>
        <SegmentedControl
          aria-label="Lowest level shown"
          size="xs"
          value={level}
          onChange={setLevel}
          data={[
            { value: "all", label: "All" },
            { value: "info", label: "Info" },
            { value: "warning", label: "Warnings" },
            { value: "error", label: "Errors" },
          ]}
        />
      </Group>
      <ErrorAlert error={logs.error} />
      <ScrollArea.Autosize mah={520} type="auto">
        <Code block data-testid="run-logs" style={{ whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
          {logs.lines.length === 0 ? (final ? "No log lines." : "Waiting for the first log lines…") : null}
          {logs.lines.map((line, index) => (
            <Text key={index} component="div" size="xs" ff="monospace" c={levelColor(line.level)}>
              {new Date(line.timestamp).toLocaleTimeString()} {line.level.padEnd(7)} {line.step ? `[${line.step}] ` : ""}
              {line.message}
            </Text>
          ))}
        </Code>
      </ScrollArea.Autosize>
      {logs.more ? (
        <Button variant="subtle" mt="xs" onClick={logs.loadMore}>
          Load more lines
        </Button>
      ) : null}
    </Card>
  );
}

export default function RunDetail() {
  const org = useOrg();
  const { runId = "" } = useParams();
  const can = useCan();
  const queryClient = useQueryClient();
  const run = useRun(org, runId);
  const cancel = useMutation({
    mutationFn: () => call(cancelRun({ path: { org, run_id: runId } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["run", org, runId] }),
  });
  if (isNotFound(run.error)) return <NotFound what="run" />;
  if (run.isPending) return <Loading />;
  if (!run.data) return <ErrorAlert error={run.error} />;
  const data = run.data;
  const final = isFinal(data.state);
  return (
    <Stack>
      <PageHeader title={data.name}>
        <StateBadge state={data.state} testId="run-state" />
        {can("can_cancel_run") && !final ? (
          <Button color="red" variant="light" onClick={() => cancel.mutate()} loading={cancel.isPending} disabled={data.state === "cancelling"}>
            Cancel run
          </Button>
        ) : null}
      </PageHeader>
      <ErrorAlert error={cancel.error} org={org} />
      <Card withBorder>
        <Group gap="xl">
          <Text size="sm">Kind: {data.kind ?? "—"}</Text>
          <Text size="sm">Started by: {data.triggered_by}</Text>
          <Text size="sm">Started: {formatTime(data.start_time)}</Text>
          <Text size="sm">Ended: {formatTime(data.end_time)}</Text>
          <Text size="sm">Took: {formatDuration(data.duration_s)}</Text>
        </Group>
        {data.state_message ? (
          <Text size="sm" mt="xs" c={data.state === "failed" || data.state === "crashed" ? "red.8" : undefined}>
            {data.state_message}
          </Text>
        ) : null}
      </Card>
      <Card withBorder component="section" aria-label="Steps">
        <Title order={4} mb="xs">
          Steps
        </Title>
        {data.steps.length === 0 ? <Text c="dimmed">{final ? "This run had no steps." : "No steps have started yet."}</Text> : null}
        {data.steps.length > 0 ? (
          <Table data-testid="run-steps">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Step</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Started</Table.Th>
                <Table.Th>Ended</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {data.steps.map((step) => (
                <Table.Tr key={step.id}>
                  <Table.Td>{step.name}</Table.Td>
                  <Table.Td>
                    <StateBadge state={step.state} />
                  </Table.Td>
                  <Table.Td>{formatTime(step.start_time)}</Table.Td>
                  <Table.Td>{formatTime(step.end_time)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
      </Card>
      {final && data.result != null ? (
        <Card withBorder component="section" aria-label="Result">
          <Title order={4} mb="xs">
            Result
          </Title>
          <RunResult org={org} result={data.result} />
        </Card>
      ) : null}
      <Logs org={org} runId={runId} final={final} />
    </Stack>
  );
}
