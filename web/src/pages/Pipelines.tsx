/** The org's pipelines: schedule in words, next and last run, lock; run now, pause, resume. */
import { Anchor, Badge, Button, Group, Stack, Table, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import { listPipelines } from "../client";
import { ErrorAlert, Loading, PageHeader, RunLink, StateBadge } from "../components/common";
import { PipelineActions, scheduleWords } from "../components/PipelineActions";
import { call } from "../errors";
import { formatTime } from "../format";

export default function Pipelines() {
  const org = useOrg();
  const can = useCan();
  const [error, setError] = useState<unknown>(null);
  const pipelines = useQuery({
    queryKey: ["pipelines", org],
    queryFn: () => call(listPipelines({ path: { org }, query: { limit: 200 } })),
    refetchInterval: 5000,
  });
  return (
    <Stack>
      <PageHeader title="Pipelines" description="Syncs and dbt commands in order, on a schedule or when you run them.">
        {can("can_create_pipeline") ? (
          <Button component={Link} to={`/orgs/${org}/pipelines/new`}>
            New pipeline
          </Button>
        ) : null}
      </PageHeader>
      <ErrorAlert error={error} org={org} />
      <ErrorAlert error={pipelines.error} />
      {pipelines.isPending ? <Loading /> : null}
      {pipelines.data && pipelines.data.count === 0 ? <Text c="dimmed">No pipelines yet.</Text> : null}
      {pipelines.data && pipelines.data.count > 0 ? (
        <Table highlightOnHover>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Pipeline</Table.Th>
              <Table.Th>Schedule</Table.Th>
              <Table.Th>Next run</Table.Th>
              <Table.Th>Last run</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {pipelines.data.data.map((pipeline) => (
              <Table.Tr key={pipeline.id} data-testid="pipeline-row">
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${org}/pipelines/${pipeline.id}`}>
                    {pipeline.name}
                  </Anchor>
                  <Text size="xs" c="dimmed">
                    {pipeline.steps.length} steps
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    <Text size="sm">{scheduleWords(pipeline)}</Text>
                    {pipeline.paused ? <Badge color="gray">paused</Badge> : null}
                  </Group>
                </Table.Td>
                <Table.Td>{pipeline.paused || !pipeline.schedule ? "—" : formatTime(pipeline.next_run)}</Table.Td>
                <Table.Td>
                  {pipeline.last_run ? (
                    <Group gap="xs">
                      <StateBadge state={pipeline.last_run.state} />
                      <RunLink org={org} id={pipeline.last_run.id}>
                        {formatTime(pipeline.last_run.since)}
                      </RunLink>
                    </Group>
                  ) : (
                    <Text c="dimmed" size="sm">
                      never run
                    </Text>
                  )}
                  {pipeline.lock?.holder_run_id ? (
                    <Text size="xs">
                      busy: <RunLink org={org} id={pipeline.lock.holder_run_id} />
                    </Text>
                  ) : null}
                </Table.Td>
                <Table.Td>
                  <PipelineActions org={org} pipeline={pipeline} onError={setError} />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
    </Stack>
  );
}
