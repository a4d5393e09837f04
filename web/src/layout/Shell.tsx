/** The frame around every signed-in page: the header with the org switcher, the unread
 * notifications and the person's menu, and the navigation of the org's pages. */
import {
  AppShell,
  Burger,
  Button,
  Group,
  Indicator,
  Menu,
  NavLink,
  Select,
  Stack,
  Text,
  Title,
  UnstyledButton,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useQuery } from "@tanstack/react-query";
import { Link, Navigate, Outlet, useLocation, useNavigate } from "react-router-dom";

import { useMe, useOrg, useSignOut, useToken } from "../auth";
import { listNotifications } from "../client";
import { ErrorAlert, Loading, NotFound } from "../components/common";
import { call } from "../errors";

/** Pages of an org in the navigation, each shown when the role may see it. */
const ORG_PAGES: { path: string; label: string; permission: string }[] = [
  { path: "", label: "Overview", permission: "can_view_org" },
  { path: "pipelines", label: "Pipelines", permission: "can_view_pipelines" },
  { path: "runs", label: "Runs", permission: "can_view_runs" },
  { path: "sources", label: "Sources", permission: "can_view_sources" },
  { path: "connections", label: "Connections", permission: "can_view_connections" },
  { path: "warehouse", label: "Warehouse", permission: "can_view_warehouse" },
  { path: "transform", label: "Transform", permission: "can_view_dbt_workspace" },
  { path: "members", label: "Members", permission: "can_view_orgusers" },
];

/** Signed-in pages: without a token, the sign-in page (coming back here afterwards). */
export function RequireSignIn() {
  const token = useToken();
  const location = useLocation();
  const me = useMe();
  if (!token) {
    const next = location.pathname + location.search;
    return <Navigate to={next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`} replace />;
  }
  if (me.isPending) return <Loading />;
  if (me.error) return <ErrorAlert error={me.error} title="Could not read your account" />;
  return <Shell />;
}

/** `/`: the first org's overview, or a word for someone in no org yet. */
export function Home() {
  const me = useMe();
  const first = me.data?.memberships[0];
  if (first) return <Navigate to={`/orgs/${first.org}`} replace />;
  return (
    <Stack py="xl" align="center">
      <Title order={2}>No organization yet</Title>
      <Text c="dimmed">You are not a member of any organization. Ask its account manager for an invitation.</Text>
    </Stack>
  );
}

/** An org's pages: only for its members; any other slug is "not found", like the API's 404. */
export function OrgGate() {
  const org = useOrg();
  const me = useMe();
  if (!me.data?.memberships.some((membership) => membership.org === org)) return <NotFound what="organization" />;
  return <Outlet />;
}

function OrgSwitcher() {
  const me = useMe();
  const org = useOrg();
  const navigate = useNavigate();
  const memberships = me.data?.memberships ?? [];
  if (memberships.length === 0) return null;
  return (
    <Select
      aria-label="Organization"
      data-testid="org-switcher"
      w={320}
      allowDeselect={false}
      value={memberships.some((m) => m.org === org) ? org : null}
      placeholder="Choose an organization"
      data={memberships.map((m) => ({ value: m.org, label: `${m.org_name} (${m.role})` }))}
      onChange={(value) => value && navigate(`/orgs/${value}`)}
    />
  );
}

function UnreadBell() {
  const unread = useQuery({
    queryKey: ["notifications", "unread-count"],
    queryFn: () => call(listNotifications({ query: { unread: true, limit: 1 } })),
    refetchInterval: 30_000,
  });
  const count = unread.data?.count ?? 0;
  return (
    <Indicator label={count} size={16} disabled={count === 0} offset={4}>
      <Button component={Link} to="/notifications" variant="subtle" aria-label={`Notifications, ${count} unread`}>
        Notifications
      </Button>
    </Indicator>
  );
}

function PersonMenu() {
  const me = useMe();
  const signOut = useSignOut();
  const navigate = useNavigate();
  return (
    <Menu position="bottom-end">
      <Menu.Target>
        <UnstyledButton aria-label="Account" data-testid="account-menu">
          <Text size="sm">{me.data?.email}</Text>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Item component={Link} to="/notifications">
          Notifications and mail
        </Menu.Item>
        <Menu.Item
          color="red"
          onClick={() => {
            void signOut().then(() => navigate("/login"));
          }}
        >
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

function Shell() {
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  const org = /^\/orgs\/([^/]+)/.exec(location.pathname)?.[1];
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: "sm", collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <Title order={3} c="teal.8">
              <Link to="/" style={{ color: "inherit", textDecoration: "none" }}>
                Dalgo
              </Link>
            </Title>
            <OrgSwitcher />
          </Group>
          <Group wrap="nowrap">
            <UnreadBell />
            <PersonMenu />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Pages">
        {org ? <OrgNav org={decodeURIComponent(org)} onNavigate={close} /> : null}
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}

function OrgNav({ org, onNavigate }: { org: string; onNavigate: () => void }) {
  const me = useMe();
  const location = useLocation();
  const membership = me.data?.memberships.find((m) => m.org === org);
  const can = (permission: string) => membership?.permissions.includes(permission) ?? false;
  return (
    <nav>
      {ORG_PAGES.filter((item) => can(item.permission)).map((item) => {
        const to = item.path ? `/orgs/${org}/${item.path}` : `/orgs/${org}`;
        const active = item.path ? location.pathname.startsWith(to) : location.pathname === to;
        return <NavLink key={item.path} component={Link} to={to} label={item.label} active={active} onClick={onNavigate} />;
      })}
    </nav>
  );
}

