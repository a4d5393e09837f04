/** Small pieces every page uses: the error sentence, a run's state badge, loading and not-found. */
import { Alert, Anchor, Badge, Center, Group, Loader, Stack, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";
import { Link } from "react-router-dom";

import { ApiError, messageOf } from "../errors";
import { stateColor, stateLabel } from "../format";

/** An error as the API's sentence; a busy resource (409) links to the run that holds it. */
export function ErrorAlert({ error, org, title }: { error: unknown; org?: string; title?: string }) {
  if (!error) return null;
  const holder = error instanceof ApiError ? error.holderRunId : null;
  return (
    <Alert color="red" title={title ?? "That did not work"} role="alert">
      <Text size="sm">{messageOf(error)}</Text>
      {holder && org ? (
        <Text size="sm" mt={4}>
          It is held by{" "}
          <Anchor component={Link} to={`/orgs/${org}/runs/${holder}`}>
            run {holder.slice(0, 8)}
          </Anchor>
          .
        </Text>
      ) : null}
    </Alert>
  );
}

/** A run's state as a coloured badge. */
export function StateBadge({ state, testId }: { state: string | null | undefined; testId?: string }) {
  if (!state) return <Text c="dimmed">never run</Text>;
  return (
    <Badge color={stateColor(state)} variant="light" data-state={state} data-testid={testId}>
      {stateLabel(state)}
    </Badge>
  );
}

/** A link to a run's page. */
export function RunLink({ org, id, children }: { org: string; id: string; children?: ReactNode }) {
  return (
    <Anchor component={Link} to={`/orgs/${org}/runs/${id}`}>
      {children ?? `run ${id.slice(0, 8)}`}
    </Anchor>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <Center py="xl" aria-busy="true">
      <Group gap="xs">
        <Loader size="sm" />
        <Text c="dimmed">{label}</Text>
      </Group>
    </Center>
  );
}

/** A page's heading with its actions on the right. */
export function PageHeader({ title, children, description }: { title: string; children?: ReactNode; description?: ReactNode }) {
  return (
    <Stack gap={4} mb="md">
      <Group justify="space-between" align="flex-end">
        <Title order={2}>{title}</Title>
        <Group gap="xs">{children}</Group>
      </Group>
      {description ? <Text c="dimmed" size="sm">{description}</Text> : null}
    </Stack>
  );
}

/** What a page shows for an object that is not there (or belongs to another org). */
export function NotFound({ what = "page" }: { what?: string }) {
  return (
    <Stack align="center" py="xl" gap="xs">
      <Title order={2}>Not found</Title>
      <Text c="dimmed">There is no such {what} here, or you may not see it.</Text>
      <Anchor component={Link} to="/">
        Back to the start
      </Anchor>
    </Stack>
  );
}
