/** The dbt workspace: its repository (git URL, branch, token masked), any dbt command with select
 * and exclude as a run the page follows with each node's status, and the docs. */
import { Anchor, Button, Card, Checkbox, Group, PasswordInput, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import { useCan, useOrg } from "../auth";
import type { DbtOperationCreate } from "../client";
import { listRuns, readWorkspace, runOperation, saveWorkspace } from "../client";
import { ErrorAlert, Loading, PageHeader, RunLink, StateBadge } from "../components/common";
import { DbtNodes } from "../components/results";
import { RunProgress } from "../components/runs";
import { call, isNotFound } from "../errors";
import { formatTime } from "../format";

const COMMANDS: DbtOperationCreate["command"][] = ["git-pull", "deps", "seed", "run", "test", "build", "docs-generate", "clean"];

function Workspace({ org, saved }: { org: string; saved: Record<string, unknown> | null }) {
  const can = useCan();
  const queryClient = useQueryClient();
  const editable = can("can_edit_dbt_workspace");
  const [fields, setFields] = useState({ git_url: "", git_token: "", branch: "", project_dir: ".", target_schema: "analytics" });
  useEffect(() => {
    if (saved) {
      setFields({
        git_url: String(saved.git_url ?? ""),
        git_token: saved.git_token ? String(saved.git_token) : "",
        branch: saved.branch ? String(saved.branch) : "",
        project_dir: String(saved.project_dir ?? "."),
        target_schema: String(saved.target_schema ?? ""),
      });
    }
  }, [saved]);
  const save = useMutation({
    mutationFn: () =>
      call(
        saveWorkspace({
          path: { org },
          body: { git_url: fields.git_url, git_token: fields.git_token || null, branch: fields.branch || null, project_dir: fields.project_dir || ".", target_schema: fields.target_schema },
        }),
      ),
    onSuccess: (answer) => queryClient.setQueryData(["dbt-workspace", org], answer),
  });
  const set = (name: keyof typeof fields) => (event: { currentTarget: { value: string } }) => setFields({ ...fields, [name]: event.currentTarget.value });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <Card withBorder component="section" aria-label="Workspace">
      <Title order={4} mb="xs">
        Workspace
      </Title>
      {saved ? null : <Text c="dimmed" mb="xs">No dbt workspace yet.</Text>}
      <form onSubmit={submit}>
        <fieldset disabled={!editable} style={{ border: 0, padding: 0, margin: 0 }}>
          <Stack maw={560}>
            <TextInput label="Git repository URL" required value={fields.git_url} onChange={set("git_url")} />
            <PasswordInput label="Git token" description="Shown masked; leave it to keep the saved one." value={fields.git_token} onChange={set("git_token")} />
            <TextInput label="Branch" placeholder="the repository's default" value={fields.branch} onChange={set("branch")} />
            <TextInput label="Project folder in the repository" value={fields.project_dir} onChange={set("project_dir")} />
            <TextInput label="Target schema" required value={fields.target_schema} onChange={set("target_schema")} />
            <ErrorAlert error={save.error} />
            {save.isSuccess ? (
              <Text c="teal.8" size="sm" role="status">
                Saved.
              </Text>
            ) : null}
            {editable ? (
              <Group>
                <Button type="submit" loading={save.isPending}>
                  Save workspace
                </Button>
              </Group>
            ) : null}
          </Stack>
        </fieldset>
      </form>
    </Card>
  );
}

function Commands({ org }: { org: string }) {
  const [command, setCommand] = useState<DbtOperationCreate["command"]>("run");
  const [select, setSelect] = useState("");
  const [exclude, setExclude] = useState("");
  const [fullRefresh, setFullRefresh] = useState(false);
  const [started, setStarted] = useState<{ runId: string; command: string } | null>(null);
  const start = useMutation({
    mutationFn: () => call(runOperation({ path: { org }, body: { command, select: select.trim() || null, exclude: exclude.trim() || null, full_refresh: fullRefresh } })),
    onSuccess: (answer) => setStarted({ runId: answer.flow_run_id, command }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    start.mutate();
  };
  return (
    <Card withBorder component="section" aria-label="Run a command">
      <Title order={4} mb="xs">
        Run a command
      </Title>
      <form onSubmit={submit}>
        <Group align="flex-end">
          <Select label="Command" data={COMMANDS} value={command} allowDeselect={false} onChange={(value) => setCommand((value ?? "run") as DbtOperationCreate["command"])} w={170} />
          <TextInput label="Select" placeholder="e.g. staging+ tag:daily" value={select} onChange={(e) => setSelect(e.currentTarget.value)} />
          <TextInput label="Exclude" value={exclude} onChange={(e) => setExclude(e.currentTarget.value)} />
          <Checkbox label="Full refresh" checked={fullRefresh} onChange={(e) => setFullRefresh(e.currentTarget.checked)} mb={8} />
          <Button type="submit" loading={start.isPending}>
            Run
          </Button>
        </Group>
      </form>
      <Stack mt="sm">
        <ErrorAlert error={start.error} org={org} />
        {started ? (
          <RunProgress key={started.runId} org={org} runId={started.runId} label={`dbt ${started.command}`}>
            {(run) => {
              const result = run.result as { message?: string; nodes?: Parameters<typeof DbtNodes>[0]["nodes"] } | null;
              return (
                <Stack gap={4}>
                  {result?.message ? <Text size="sm">{result.message}</Text> : null}
                  {result?.nodes && result.nodes.length > 0 ? <DbtNodes nodes={result.nodes} /> : null}
                </Stack>
              );
            }}
          </RunProgress>
        ) : null}
      </Stack>
    </Card>
  );
}

function RecentDbtRuns({ org }: { org: string }) {
  const runs = useQuery({
    queryKey: ["runs", org, { limit: 50 }],
    queryFn: () => call(listRuns({ path: { org }, query: { limit: 50 } })),
    refetchInterval: 5000,
  });
  const dbtRuns = runs.data?.data.filter((run) => run.kind === "dbt" || run.kind === "git").slice(0, 5) ?? [];
  return (
    <Card withBorder component="section" aria-label="Recent dbt runs">
      <Title order={4} mb="xs">
        Recent dbt and git runs
      </Title>
      {dbtRuns.length === 0 ? <Text c="dimmed">None lately.</Text> : null}
      {dbtRuns.map((run) => (
        <Group key={run.id} gap="xs">
          <StateBadge state={run.state} />
          <RunLink org={org} id={run.id}>
            {run.name}
          </RunLink>
          <Text size="sm" c="dimmed">
            {formatTime(run.start_time)}
          </Text>
        </Group>
      ))}
    </Card>
  );
}

export default function Transform() {
  const org = useOrg();
  const can = useCan();
  const workspace = useQuery({ queryKey: ["dbt-workspace", org], queryFn: () => call(readWorkspace({ path: { org } })) });
  const missing = isNotFound(workspace.error);
  const saved = (workspace.data as Record<string, unknown> | undefined) ?? null;
  const locked = workspace.data?.locked_by;
  return (
    <Stack>
      <PageHeader title="Transform" description="dbt models from the organization's repository, built in the warehouse.">
        {workspace.data ? (
          <Button component={Link} to={`/orgs/${org}/transform/docs`} variant="light">
            Open the dbt docs
          </Button>
        ) : null}
      </PageHeader>
      {workspace.isPending ? <Loading /> : null}
      {workspace.error && !missing ? <ErrorAlert error={workspace.error} /> : null}
      {locked ? (
        <Text size="sm">
          The workspace is busy: <RunLink org={org} id={locked.id} />
        </Text>
      ) : null}
      {workspace.data || missing ? <Workspace org={org} saved={saved} /> : null}
      {workspace.data && can("can_run_dbt") ? <Commands org={org} /> : null}
      {workspace.data ? <RecentDbtRuns org={org} /> : null}
      {workspace.data ? (
        <Anchor component={Link} to={`/orgs/${org}/runs`} size="sm">
          All runs
        </Anchor>
      ) : null}
    </Stack>
  );
}
