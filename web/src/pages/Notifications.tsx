/** The caller's notifications (failure alerts and the like), newest first, and mail preferences. */
import { Anchor, Badge, Button, Card, Group, Pagination, Stack, Switch, Text } from "@mantine/core";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";

import { listNotifications, markRead, readPreferences, updatePreferences } from "../client";
import { ErrorAlert, Loading, PageHeader } from "../components/common";
import { call } from "../errors";
import { formatTime } from "../format";

const PAGE_SIZE = 20;

function Preferences() {
  const queryClient = useQueryClient();
  const preferences = useQuery({ queryKey: ["preferences"], queryFn: () => call(readPreferences()) });
  const update = useMutation({
    mutationFn: (failureMails: boolean) => call(updatePreferences({ body: { failure_mails: failureMails } })),
    onSuccess: (answer) => queryClient.setQueryData(["preferences"], answer),
  });
  return (
    <Card withBorder component="section" aria-label="Mail preferences">
      <ErrorAlert error={preferences.error ?? update.error} />
      <Switch
        label="Mail me when a run of my organizations fails"
        checked={preferences.data?.failure_mails ?? false}
        disabled={!preferences.data || update.isPending}
        onChange={(e) => update.mutate(e.currentTarget.checked)}
      />
    </Card>
  );
}

/** A notification's link as an address of this app when it points here. */
function appPath(link: string): string | null {
  try {
    const url = new URL(link, window.location.origin);
    return url.pathname.startsWith("/orgs/") ? url.pathname + url.search : null;
  } catch {
    return null;
  }
}

export default function Notifications() {
  const queryClient = useQueryClient();
  const [page, setPage] = useState(1);
  const notes = useQuery({
    queryKey: ["notifications", "page", page],
    queryFn: () => call(listNotifications({ query: { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE } })),
    placeholderData: keepPreviousData,
  });
  const read = useMutation({
    mutationFn: (id: string) => call(markRead({ path: { notification_id: id } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["notifications"] }),
  });
  return (
    <Stack>
      <PageHeader title="Notifications" />
      <Preferences />
      <ErrorAlert error={notes.error ?? read.error} />
      {notes.isPending ? <Loading /> : null}
      {notes.data?.count === 0 ? <Text c="dimmed">No notifications.</Text> : null}
      {notes.data?.data.map((note) => {
        const path = note.link ? appPath(note.link) : note.org && note.flow_run_id ? `/orgs/${note.org}/runs/${note.flow_run_id}` : null;
        return (
          <Card key={note.id} withBorder bg={note.read_at ? undefined : "teal.0"}>
            <Group justify="space-between" align="flex-start">
              <Stack gap={2}>
                <Group gap="xs">
                  <Text fw={600}>{note.subject}</Text>
                  {note.read_at ? null : <Badge size="xs">unread</Badge>}
                </Group>
                <Text size="xs" c="dimmed">
                  {formatTime(note.created_at)}
                  {note.org ? ` · ${note.org}` : ""}
                </Text>
                <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
                  {note.body}
                </Text>
                {path ? (
                  <Anchor component={Link} to={path} size="sm">
                    Open
                  </Anchor>
                ) : null}
              </Stack>
              {note.read_at ? null : (
                <Button size="xs" variant="subtle" onClick={() => read.mutate(note.id)}>
                  Mark read
                </Button>
              )}
            </Group>
          </Card>
        );
      })}
      {notes.data && notes.data.count > PAGE_SIZE ? <Pagination total={Math.ceil(notes.data.count / PAGE_SIZE)} value={page} onChange={setPage} /> : null}
    </Stack>
  );
}
