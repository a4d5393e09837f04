/** The org's connections: a source's streams into a schema of the warehouse, with lock and last sync. */
import { Anchor, Button, Group, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import { listConnections, listOrgSources } from "../client";
import { ErrorAlert, Loading, PageHeader, RunLink, StateBadge } from "../components/common";
import { call } from "../errors";
import { formatTime } from "../format";

export default function Connections() {
  const org = useOrg();
  const can = useCan();
  const connections = useQuery({
    queryKey: ["connections", org],
    queryFn: () => call(listConnections({ path: { org }, query: { limit: 200 } })),
    refetchInterval: 5000,
  });
  const sources = useQuery({
    queryKey: ["sources", org],
    queryFn: () => call(listOrgSources({ path: { org }, query: { limit: 200 } })),
  });
  const sourceName = new Map(sources.data?.data.map((s) => [s.id, s.name]) ?? []);
  return (
    <Stack>
      <PageHeader title="Connections" description="Each connection syncs a source's streams into a schema of the warehouse.">
        {can("can_create_connection") ? (
          <Button component={Link} to={`/orgs/${org}/connections/new`}>
            New connection
          </Button>
        ) : null}
      </PageHeader>
      <ErrorAlert error={connections.error} />
      {connections.isPending ? <Loading /> : null}
      {connections.data?.count === 0 ? <Text c="dimmed">No connections yet.</Text> : null}
      {connections.data && connections.data.count > 0 ? (
        <Table highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Connection</Table.Th>
              <Table.Th>Source</Table.Th>
              <Table.Th>Into schema</Table.Th>
              <Table.Th>Streams</Table.Th>
              <Table.Th>Last sync</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {connections.data.data.map((connection) => (
              <Table.Tr key={connection.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${org}/connections/${connection.id}`}>
                    {connection.name}
                  </Anchor>
                </Table.Td>
                <Table.Td>{sourceName.get(connection.source_id) ?? "—"}</Table.Td>
                <Table.Td>{connection.destination_schema}</Table.Td>
                <Table.Td>{connection.streams ? connection.streams.join(", ") : "all"}</Table.Td>
                <Table.Td>
                  {connection.locked_by ? (
                    <Group gap="xs">
                      <StateBadge state={connection.locked_by.state} />
                      <RunLink org={org} id={connection.locked_by.id}>
                        syncing now
                      </RunLink>
                    </Group>
                  ) : connection.last_run ? (
                    <Group gap="xs">
                      <StateBadge state={connection.last_run.state} />
                      <RunLink org={org} id={connection.last_run.id}>
                        {formatTime(connection.last_run.since)}
                      </RunLink>
                    </Group>
                  ) : (
                    <Text c="dimmed" size="sm">
                      never synced
                    </Text>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
    </Stack>
  );
}
