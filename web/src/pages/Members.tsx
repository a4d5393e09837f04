/** Members and their roles, and invitations (send, renew, revoke), within the caller's own level. */
import { Button, Card, Group, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { useCan, useMe, useMembership, useOrg } from "../auth";
import type { InvitationPublic, MemberPublic, RolePublic } from "../client";
import { changeMemberRole, createInvitation, deleteInvitation, listInvitations, listMembers, listRoles, removeMember } from "../client";
import { ErrorAlert, Loading, PageHeader } from "../components/common";
import { call } from "../errors";
import { formatTime } from "../format";

function useRoles() {
  return useQuery({ queryKey: ["roles"], queryFn: () => call(listRoles()), staleTime: Infinity });
}

/** The roles the caller may give: those at or below their own level. */
function useGivableRoles(): RolePublic[] {
  const roles = useRoles();
  const membership = useMembership();
  const mine = roles.data?.find((role) => role.slug === membership?.role)?.level ?? 0;
  return roles.data?.filter((role) => role.level <= mine) ?? [];
}

function MemberRow({ org, member, onError }: { org: string; member: MemberPublic; onError: (error: unknown) => void }) {
  const can = useCan();
  const me = useMe();
  const roles = useRoles();
  const givable = useGivableRoles();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["members", org] });
  const reachable = givable.some((role) => role.slug === member.role);
  const self = me.data?.id === member.user_id;
  const change = useMutation({
    mutationFn: (role: string) => call(changeMemberRole({ path: { org, user_id: member.user_id }, body: { role } })),
    onSuccess: refresh,
    onError,
  });
  const remove = useMutation({
    mutationFn: () => call(removeMember({ path: { org, user_id: member.user_id } })),
    onSuccess: refresh,
    onError,
  });
  const roleName = roles.data?.find((role) => role.slug === member.role)?.name ?? member.role;
  return (
    <Table.Tr>
      <Table.Td>
        {member.email}
        {self ? " (you)" : ""}
      </Table.Td>
      <Table.Td>
        {can("can_edit_orguser_role") && reachable && !self ? (
          <Select
            aria-label={`Role of ${member.email}`}
            size="xs"
            w={200}
            allowDeselect={false}
            value={member.role}
            data={givable.map((role) => ({ value: role.slug, label: role.name }))}
            onChange={(value) => value && value !== member.role && change.mutate(value)}
          />
        ) : (
          roleName
        )}
      </Table.Td>
      <Table.Td>
        {can("can_delete_orguser") && reachable && !self ? (
          <Button size="xs" color="red" variant="subtle" loading={remove.isPending} onClick={() => window.confirm(`Remove ${member.email} from the organization?`) && remove.mutate()}>
            Remove
          </Button>
        ) : null}
      </Table.Td>
    </Table.Tr>
  );
}

function Invite({ org }: { org: string }) {
  const givable = useGivableRoles();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<string | null>("guest");
  const send = useMutation({
    mutationFn: () => call(createInvitation({ path: { org }, body: { email, role: role ?? "guest" } })),
    onSuccess: () => {
      setEmail("");
      void queryClient.invalidateQueries({ queryKey: ["invitations", org] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    send.mutate();
  };
  return (
    <form onSubmit={submit} aria-label="Invite someone">
      <Group align="flex-end">
        <TextInput label="Email" type="email" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} w={280} />
        <Select label="Role" required allowDeselect={false} value={role} onChange={setRole} data={givable.map((r) => ({ value: r.slug, label: r.name }))} w={200} />
        <Button type="submit" loading={send.isPending}>
          Send invitation
        </Button>
      </Group>
      <Stack mt="xs">
        <ErrorAlert error={send.error} />
        {send.isSuccess ? (
          <Text c="teal.8" size="sm" role="status">
            Invitation sent.
          </Text>
        ) : null}
      </Stack>
    </form>
  );
}

function InvitationRow({ org, invitation, onError }: { org: string; invitation: InvitationPublic; onError: (error: unknown) => void }) {
  const can = useCan();
  const givable = useGivableRoles();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["invitations", org] });
  const revoke = useMutation({
    mutationFn: () => call(deleteInvitation({ path: { org, invitation_id: invitation.id } })),
    onSuccess: refresh,
    onError,
  });
  // Inviting the same address again mails a fresh code with a new expiry and withdraws the old one.
  const renew = useMutation({
    mutationFn: () => call(createInvitation({ path: { org }, body: { email: invitation.email, role: invitation.role } })),
    onSuccess: refresh,
    onError,
  });
  const reachable = givable.some((role) => role.slug === invitation.role);
  const expired = new Date(invitation.expires_at).getTime() < Date.now();
  return (
    <Table.Tr>
      <Table.Td>{invitation.email}</Table.Td>
      <Table.Td>{invitation.role}</Table.Td>
      <Table.Td>{invitation.invited_by ?? "—"}</Table.Td>
      <Table.Td c={expired ? "red.7" : undefined}>
        {expired ? "expired " : ""}
        {formatTime(invitation.expires_at)}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          {can("can_create_invitation") && reachable ? (
            <Button size="xs" variant="light" loading={renew.isPending} onClick={() => renew.mutate()}>
              Renew
            </Button>
          ) : null}
          {can("can_delete_invitation") && reachable ? (
            <Button size="xs" color="red" variant="subtle" loading={revoke.isPending} onClick={() => revoke.mutate()}>
              Revoke
            </Button>
          ) : null}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

export default function Members() {
  const org = useOrg();
  const can = useCan();
  const [error, setError] = useState<unknown>(null);
  const members = useQuery({ queryKey: ["members", org], queryFn: () => call(listMembers({ path: { org }, query: { limit: 200 } })) });
  const invitations = useQuery({
    queryKey: ["invitations", org],
    queryFn: () => call(listInvitations({ path: { org }, query: { limit: 200 } })),
    enabled: can("can_view_invitations"),
  });
  return (
    <Stack>
      <PageHeader title="Members" description="Who works in this organization, and with which role. Nobody may give a role above their own." />
      <ErrorAlert error={error} />
      <Card withBorder component="section" aria-label="Members">
        <ErrorAlert error={members.error} />
        {members.isPending ? <Loading /> : null}
        {members.data ? (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Email</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {members.data.data.map((member) => (
                <MemberRow key={member.user_id} org={org} member={member} onError={setError} />
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
      </Card>
      {can("can_view_invitations") ? (
        <Card withBorder component="section" aria-label="Invitations">
          <Title order={4} mb="xs">
            Invitations
          </Title>
          <Stack>
            {can("can_create_invitation") ? <Invite org={org} /> : null}
            <ErrorAlert error={invitations.error} />
            {invitations.data?.count === 0 ? <Text c="dimmed">No pending invitations.</Text> : null}
            {invitations.data && invitations.data.count > 0 ? (
              <Table>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Invited by</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th />
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {invitations.data.data.map((invitation) => (
                    <InvitationRow key={invitation.id} org={org} invitation={invitation} onError={setError} />
                  ))}
                </Table.Tbody>
              </Table>
            ) : null}
          </Stack>
        </Card>
      ) : null}
    </Stack>
  );
}
