/** A finished run's result in words and tables: records per stream for a sync, each node's
 * status for a dbt command, each step's outcome for a pipeline, the streams a discover found. */
import { Code, Stack, Table, Text } from "@mantine/core";

import { formatCount, formatDuration } from "../format";
import { RunLink, StateBadge } from "./common";

type SyncResult = { streams: Record<string, { records: number; bytes?: number }>; records?: number; duration_s?: number };
type DbtNode = { unique_id: string; name: string; type: string; status: string; execution_time_s?: number; rows_affected?: number | null; message?: string | null };
type PipelineStep = { step: string; type: string; state: string; flow_run_id?: string | null; message?: string | null };
type DiscoveredStream = { name: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** dbt's node statuses as run-state colours. */
function nodeState(status: string): string {
  if (status === "success" || status === "pass") return "completed";
  if (status === "warn") return "completed_with_warnings";
  if (status === "skipped") return "cancelled";
  return "failed";
}

export function SyncStreams({ result }: { result: SyncResult }) {
  return (
    <Table data-testid="sync-streams">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Stream</Table.Th>
          <Table.Th>Records</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {Object.entries(result.streams).map(([name, stream]) => (
          <Table.Tr key={name}>
            <Table.Td>{name}</Table.Td>
            <Table.Td>{formatCount(stream.records)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function DbtNodes({ nodes }: { nodes: DbtNode[] }) {
  return (
    <Table data-testid="dbt-nodes">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Node</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Took</Table.Th>
          <Table.Th>Rows</Table.Th>
          <Table.Th>Message</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {nodes.map((node) => (
          <Table.Tr key={node.unique_id}>
            <Table.Td>
              {node.type} {node.name}
            </Table.Td>
            <Table.Td>
              <StateBadge state={nodeState(node.status)} />
            </Table.Td>
            <Table.Td>{formatDuration(node.execution_time_s)}</Table.Td>
            <Table.Td>{formatCount(node.rows_affected)}</Table.Td>
            <Table.Td>{node.message}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

export function RunResult({ org, result }: { org: string; result: unknown }) {
  if (result == null) return null;
  if (isObject(result) && isObject(result.streams)) {
    const sync = result as SyncResult;
    return (
      <Stack gap="xs">
        <Text>
          {formatCount(sync.records)} records in {formatDuration(sync.duration_s)}.
        </Text>
        <SyncStreams result={sync} />
      </Stack>
    );
  }
  if (isObject(result) && Array.isArray(result.nodes)) {
    return (
      <Stack gap="xs">
        {typeof result.message === "string" ? <Text>{result.message}</Text> : null}
        <DbtNodes nodes={result.nodes as DbtNode[]} />
      </Stack>
    );
  }
  if (isObject(result) && Array.isArray(result.steps) && "pipeline_id" in result) {
    return (
      <Table>
        <Table.Tbody>
          {(result.steps as PipelineStep[]).map((step) => (
            <Table.Tr key={step.step}>
              <Table.Td>{step.step}</Table.Td>
              <Table.Td>
                <StateBadge state={step.state} />
              </Table.Td>
              <Table.Td>{step.flow_run_id ? <RunLink org={org} id={step.flow_run_id} /> : null}</Table.Td>
              <Table.Td>{step.message}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    );
  }
  if (isObject(result) && Array.isArray(result.streams)) {
    return <Text>Streams: {(result.streams as DiscoveredStream[]).map((s) => s.name).join(", ")}</Text>;
  }
  if (isObject(result) && typeof result.ok === "boolean") {
    return (
      <Text c={result.ok ? "green.8" : "red.8"}>
        {result.ok ? "Connected: " : "Could not connect: "}
        {String(result.message ?? "")}
      </Text>
    );
  }
  return <Code block>{JSON.stringify(result, null, 2)}</Code>;
}
