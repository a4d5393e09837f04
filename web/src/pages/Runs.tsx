/** Run history, newest first, filtered by state, pipeline or connection, a page at a time. */
import { Anchor, Group, Pagination, Select, Stack, Table, Text } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";

import { useOrg } from "../auth";
import type { ListRunsData } from "../client";
import { listConnections, listPipelines, listRuns } from "../client";
import { ErrorAlert, Loading, PageHeader, StateBadge } from "../components/common";
import { call } from "../errors";
import { formatDuration, formatTime, RUN_STATES, stateLabel } from "../format";

const PAGE_SIZE = 25;
type RunState = NonNullable<NonNullable<ListRunsData["query"]>["state"]>;

export default function Runs() {
  const org = useOrg();
  const [params, setParams] = useSearchParams();
  const state = (params.get("state") as RunState | null) ?? null;
  const pipelineId = params.get("pipeline_id");
  const connectionId = params.get("connection_id");
  const page = Number(params.get("page") ?? "1");
  const query = { state, pipeline_id: pipelineId, connection_id: connectionId, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE };
  const runs = useQuery({
    queryKey: ["runs", org, query],
    queryFn: () => call(listRuns({ path: { org }, query })),
    placeholderData: keepPreviousData,
    refetchInterval: 5000,
  });
  const pipelines = useQuery({
    queryKey: ["pipelines", org],
    queryFn: () => call(listPipelines({ path: { org }, query: { limit: 200 } })),
  });
  const connections = useQuery({
    queryKey: ["connections", org],
    queryFn: () => call(listConnections({ path: { org }, query: { limit: 200 } })),
  });
  const setFilter = (name: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("page");
    setParams(next);
  };
  const pipelineName = new Map(pipelines.data?.data.map((p) => [p.id, p.name]) ?? []);
  return (
    <Stack>
      <PageHeader title="Runs" description="Every sync, dbt command, check and pipeline run of this organization." />
      <Group>
        <Select
          label="State"
          clearable
          placeholder="any"
          value={state}
          data={RUN_STATES.map((s) => ({ value: s, label: stateLabel(s) }))}
          onChange={(value) => setFilter("state", value)}
        />
        <Select
          label="Pipeline"
          clearable
          placeholder="any"
          value={pipelineId}
          data={pipelines.data?.data.map((p) => ({ value: p.id, label: p.name })) ?? []}
          onChange={(value) => setFilter("pipeline_id", value)}
        />
        <Select
          label="Connection"
          clearable
          placeholder="any"
          value={connectionId}
          data={connections.data?.data.map((c) => ({ value: c.id, label: c.name })) ?? []}
          onChange={(value) => setFilter("connection_id", value)}
        />
      </Group>
      <ErrorAlert error={runs.error} />
      {runs.isPending ? <Loading /> : null}
      {runs.data && runs.data.count === 0 ? <Text c="dimmed">No runs match.</Text> : null}
      {runs.data && runs.data.count > 0 ? (
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Run</Table.Th>
              <Table.Th>Kind</Table.Th>
              <Table.Th>State</Table.Th>
              <Table.Th>Started</Table.Th>
              <Table.Th>Took</Table.Th>
              <Table.Th>Started by</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {runs.data.data.map((run) => (
              <Table.Tr key={run.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${org}/runs/${run.id}`}>
                    {run.pipeline_id ? (pipelineName.get(run.pipeline_id) ?? run.name) : run.name}
                  </Anchor>
                </Table.Td>
                <Table.Td>{run.kind ?? "—"}</Table.Td>
                <Table.Td>
                  <StateBadge state={run.state} />
                </Table.Td>
                <Table.Td>{formatTime(run.start_time)}</Table.Td>
                <Table.Td>{formatDuration(run.duration_s)}</Table.Td>
                <Table.Td>{run.triggered_by}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
      {runs.data && runs.data.count > PAGE_SIZE ? (
        <Pagination
          total={Math.ceil(runs.data.count / PAGE_SIZE)}
          value={page}
          onChange={(value) => {
            const next = new URLSearchParams(params);
            next.set("page", String(value));
            setParams(next);
          }}
        />
      ) : null}
    </Stack>
  );
}
