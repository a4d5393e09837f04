/** An org at a glance: its warehouse, pipelines with their next and last run, recent failures,
 * locks held and unread notifications. */
import { Anchor, Card, Group, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link } from "react-router-dom";

import { useCan, useMembership, useOrg } from "../auth";
import { listLocks, listNotifications, listPipelines, listRuns, readWarehouse } from "../client";
import { ErrorAlert, Loading, PageHeader, RunLink, StateBadge } from "../components/common";
import { call, isNotFound } from "../errors";
import { formatTime } from "../format";

function Section({ title, to, children }: { title: string; to?: string; children: ReactNode }) {
  return (
    <Card withBorder component="section" aria-label={title}>
      <Group justify="space-between" mb="xs">
        <Title order={4}>{title}</Title>
        {to ? (
          <Anchor component={Link} to={to} size="sm">
            Open
          </Anchor>
        ) : null}
      </Group>
      {children}
    </Card>
  );
}

function WarehouseState({ org }: { org: string }) {
  const warehouse = useQuery({
    queryKey: ["warehouse", org],
    queryFn: () => call(readWarehouse({ path: { org } })),
  });
  if (warehouse.isPending) return <Loading />;
  if (isNotFound(warehouse.error)) return <Text c="dimmed">No warehouse yet.</Text>;
  if (warehouse.error) return <ErrorAlert error={warehouse.error} />;
  const saved = warehouse.data as Record<string, unknown>;
  const where = saved.type === "duckdb" ? saved.path : saved.type === "bigquery" ? `${saved.project}.${saved.dataset}` : `${saved.host}/${saved.database}`;
  return (
    <Text>
      <b>{String(saved.type)}</b> warehouse: {String(where ?? "")}
    </Text>
  );
}

export default function Overview() {
  const org = useOrg();
  const can = useCan();
  const membership = useMembership();
  const pipelines = useQuery({
    queryKey: ["pipelines", org],
    queryFn: () => call(listPipelines({ path: { org }, query: { limit: 200 } })),
    refetchInterval: 10_000,
  });
  const failures = useQuery({
    queryKey: ["runs", org, { state: "failed", limit: 5 }],
    queryFn: () => call(listRuns({ path: { org }, query: { state: "failed", limit: 5 } })),
  });
  const locks = useQuery({
    queryKey: ["locks", org],
    queryFn: () => call(listLocks({ path: { org } })),
    refetchInterval: 10_000,
  });
  const unread = useQuery({
    queryKey: ["notifications", "unread", org],
    queryFn: () => call(listNotifications({ query: { unread: true, limit: 5 } })),
  });
  return (
    <Stack>
      <PageHeader title={membership?.org_name ?? org} description={`You are ${membership?.role ?? "a member"} here.`} />
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        {can("can_view_warehouse") ? (
          <Section title="Warehouse" to={`/orgs/${org}/warehouse`}>
            <WarehouseState org={org} />
          </Section>
        ) : null}
        <Section title="Locks held" to={`/orgs/${org}/runs`}>
          {locks.error ? <ErrorAlert error={locks.error} /> : null}
          {locks.data && locks.data.length === 0 ? <Text c="dimmed">Nothing is running that holds a lock.</Text> : null}
          {locks.data?.map((lock) => (
            <Text key={lock.resource} size="sm">
              {lock.resource} held by {lock.holder_run_id ? <RunLink org={org} id={lock.holder_run_id} /> : "a run"} since{" "}
              {formatTime(lock.since)}
            </Text>
          ))}
        </Section>
      </SimpleGrid>
      <Section title="Pipelines" to={`/orgs/${org}/pipelines`}>
        {pipelines.isPending ? <Loading /> : null}
        <ErrorAlert error={pipelines.error} />
        {pipelines.data && pipelines.data.count === 0 ? <Text c="dimmed">No pipelines yet.</Text> : null}
        {pipelines.data && pipelines.data.count > 0 ? (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Pipeline</Table.Th>
                <Table.Th>Last run</Table.Th>
                <Table.Th>Next run</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {pipelines.data.data.map((pipeline) => (
                <Table.Tr key={pipeline.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/orgs/${org}/pipelines/${pipeline.id}`}>
                      {pipeline.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    {pipeline.last_run ? (
                      <Group gap="xs">
                        <StateBadge state={pipeline.last_run.state} />
                        <RunLink org={org} id={pipeline.last_run.id}>
                          {formatTime(pipeline.last_run.since)}
                        </RunLink>
                      </Group>
                    ) : (
                      <Text c="dimmed">never run</Text>
                    )}
                  </Table.Td>
                  <Table.Td>{pipeline.paused ? "paused" : formatTime(pipeline.next_run)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
      </Section>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Section title="Recent failures" to={`/orgs/${org}/runs?state=failed`}>
          <ErrorAlert error={failures.error} />
          {failures.data && failures.data.count === 0 ? <Text c="dimmed">No failed runs.</Text> : null}
          {failures.data?.data.map((run) => (
            <Group key={run.id} gap="xs">
              <RunLink org={org} id={run.id}>
                {run.name}
              </RunLink>
              <Text size="sm" c="dimmed">
                {formatTime(run.start_time)}
              </Text>
            </Group>
          ))}
        </Section>
        <Section title="Unread notifications" to="/notifications">
          <ErrorAlert error={unread.error} />
          {unread.data && unread.data.count === 0 ? <Text c="dimmed">Nothing unread.</Text> : null}
          {unread.data?.data.map((note) => (
            <Text key={note.id} size="sm">
              {note.subject}
            </Text>
          ))}
        </Section>
      </SimpleGrid>
    </Stack>
  );
}
