/** Following a run: its state polled until it ends, and a compact view of its progress. */
import { Group, Paper, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";

import type { RunDetailPublic } from "../client";
import { readRun } from "../client";
import { call } from "../errors";
import { isFinal } from "../format";
import { ErrorAlert, RunLink, StateBadge } from "./common";

/** Poll every second or two while a run has not ended. */
export const POLL_MS = 1500;

/** A run with its steps and (once ended) result, polled while it goes on. */
export function useRun(org: string, runId: string | null | undefined) {
  return useQuery<RunDetailPublic>({
    queryKey: ["run", org, runId],
    queryFn: () => call(readRun({ path: { org, run_id: runId ?? "" } })),
    enabled: Boolean(runId),
    retry: (count, error) => count < 2 && !(error instanceof Error && "status" in error && error.status === 404),
    refetchInterval: (query) => (isFinal(query.state.data?.state) ? false : POLL_MS),
  });
}

/** A started run (a check, a discover, a sync): its state as it changes, and its result once done. */
export function RunProgress({
  org,
  runId,
  label,
  children,
}: {
  org: string;
  runId: string;
  label: string;
  children?: (run: RunDetailPublic) => ReactNode;
}) {
  const run = useRun(org, runId);
  return (
    <Paper withBorder p="sm" aria-live="polite" data-testid="run-progress">
      <Stack gap={6}>
        <Group gap="xs">
          <Text fw={500}>{label}</Text>
          <StateBadge state={run.data?.state ?? "pending"} testId="progress-state" />
          <RunLink org={org} id={runId}>
            details and logs
          </RunLink>
        </Group>
        {run.data?.state_message && isFinal(run.data.state) ? (
          <Text size="sm" c="dimmed">
            {run.data.state_message}
          </Text>
        ) : null}
        <ErrorAlert error={run.error} />
        {run.data && isFinal(run.data.state) && children ? children(run.data) : null}
      </Stack>
    </Paper>
  );
}

/** A check run's `{ok, message}` result in words. */
export function CheckResult({ run }: { run: RunDetailPublic }) {
  const result = run.result as { ok?: boolean; message?: string } | null | undefined;
  if (!result || typeof result.ok !== "boolean") return null;
  return (
    <Text size="sm" c={result.ok ? "green.8" : "red.8"} data-testid="check-result">
      {result.ok ? "Connected: " : "Could not connect: "}
      {result.message}
    </Text>
  );
}
