/** The org's sources and the connector catalogue they are made from. */
import { Anchor, Button, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import { listOrgSources, listSourceDefinitions } from "../client";
import { ErrorAlert, Loading, PageHeader } from "../components/common";
import { call } from "../errors";

export default function Sources() {
  const org = useOrg();
  const can = useCan();
  const sources = useQuery({
    queryKey: ["sources", org],
    queryFn: () => call(listOrgSources({ path: { org }, query: { limit: 200 } })),
  });
  const definitions = useQuery({
    queryKey: ["source-definitions", org],
    queryFn: () => call(listSourceDefinitions({ path: { org } })),
    staleTime: 5 * 60_000,
  });
  const title = new Map(definitions.data?.map((d) => [d.name, d.title]) ?? []);
  return (
    <Stack>
      <PageHeader title="Sources" description="Where data comes from: each source is a connector with its configuration.">
        {can("can_create_source") ? (
          <Button component={Link} to={`/orgs/${org}/sources/new`}>
            New source
          </Button>
        ) : null}
      </PageHeader>
      <ErrorAlert error={sources.error} />
      {sources.isPending ? <Loading /> : null}
      {sources.data?.count === 0 ? <Text c="dimmed">No sources yet.</Text> : null}
      {sources.data && sources.data.count > 0 ? (
        <Table highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Source</Table.Th>
              <Table.Th>Connector</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {sources.data.data.map((source) => (
              <Table.Tr key={source.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${org}/sources/${source.id}`}>
                    {source.name}
                  </Anchor>
                </Table.Td>
                <Table.Td>{title.get(source.definition) ?? source.definition}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
      {definitions.data ? (
        <Text size="sm" c="dimmed">
          Connectors available: {definitions.data.map((d) => d.title).join(", ")}.
        </Text>
      ) : null}
    </Stack>
  );
}
