/** The org's warehouse: set it up (Postgres, BigQuery or DuckDB) and check it, then explore its
 * schemas and tables with a preview of rows. */
import { Button, Card, Group, NavLink, NumberInput, PasswordInput, ScrollArea, SegmentedControl, SimpleGrid, Stack, Table, Text, TextInput, Textarea, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";

import { useCan, useOrg } from "../auth";
import type { SaveWarehouseData } from "../client";
import { checkWarehouse, listTables, previewTable, readWarehouse, saveWarehouse } from "../client";
import { ErrorAlert, Loading, PageHeader } from "../components/common";
import { CheckResult, RunProgress } from "../components/runs";
import { call, isNotFound } from "../errors";

type Kind = "postgres" | "bigquery" | "duckdb";
type Fields = Record<string, string>;

const EMPTY: Record<Kind, Fields> = {
  postgres: { host: "", port: "5432", database: "", user: "", password: "", schema: "public" },
  bigquery: { project: "", dataset: "", location: "US", credentials_json: "" },
  duckdb: { path: "warehouse.duckdb", schema: "main" },
};

function bodyOf(kind: Kind, fields: Fields): SaveWarehouseData["body"] {
  if (kind === "postgres") {
    return { type: "postgres", host: fields.host, port: Number(fields.port) || 5432, database: fields.database, user: fields.user, password: fields.password || null, schema: fields.schema };
  }
  if (kind === "bigquery") {
    return { type: "bigquery", project: fields.project, dataset: fields.dataset, location: fields.location, credentials_json: fields.credentials_json || null };
  }
  return { type: "duckdb", path: fields.path || undefined, schema: fields.schema || undefined };
}

function Setup({ org, saved }: { org: string; saved: Record<string, unknown> | null }) {
  const can = useCan();
  const queryClient = useQueryClient();
  const editable = can("can_edit_warehouse");
  const [kind, setKind] = useState<Kind>((saved?.type as Kind | undefined) ?? "duckdb");
  const [fields, setFields] = useState<Fields>(EMPTY[kind]);
  useEffect(() => {
    if (saved) {
      const kindSaved = saved.type as Kind;
      setKind(kindSaved);
      const filled: Fields = { ...EMPTY[kindSaved] };
      for (const key of Object.keys(filled)) if (saved[key] != null) filled[key] = String(saved[key]);
      setFields(filled);
    }
  }, [saved]);
  const [checkRun, setCheckRun] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => call(saveWarehouse({ path: { org }, body: bodyOf(kind, fields) })),
    onSuccess: (answer) => queryClient.setQueryData(["warehouse", org], answer),
  });
  const check = useMutation({
    mutationFn: () => call(checkWarehouse({ path: { org } })),
    onSuccess: (started) => setCheckRun(started.flow_run_id),
  });
  const field = (name: string, label: string, props: { description?: string; required?: boolean } = {}) => (
    <TextInput key={name} label={label} value={fields[name] ?? ""} onChange={(e) => setFields({ ...fields, [name]: e.currentTarget.value })} {...props} />
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <Card withBorder component="section" aria-label="Settings">
      <Title order={4} mb="xs">
        Settings
      </Title>
      {saved ? null : <Text c="dimmed" mb="xs">No warehouse yet.{editable ? " Set one up:" : ""}</Text>}
      <form onSubmit={submit}>
        <fieldset disabled={!editable} style={{ border: 0, padding: 0, margin: 0 }}>
          <Stack maw={560}>
            <SegmentedControl
              aria-label="Warehouse type"
              value={kind}
              disabled={!editable}
              onChange={(value) => {
                setKind(value as Kind);
                setFields(EMPTY[value as Kind]);
              }}
              data={[
                { value: "duckdb", label: "DuckDB (on this server)" },
                { value: "postgres", label: "Postgres" },
                { value: "bigquery", label: "BigQuery" },
              ]}
            />
            {kind === "postgres" ? (
              <>
                {field("host", "Host", { required: true })}
                <NumberInput label="Port" value={Number(fields.port)} onChange={(value) => setFields({ ...fields, port: String(value) })} />
                {field("database", "Database", { required: true })}
                {field("user", "User", { required: true })}
                <PasswordInput label="Password" description="Shown masked; leave it to keep the saved one." value={fields.password} onChange={(e) => setFields({ ...fields, password: e.currentTarget.value })} />
                {field("schema", "Schema")}
              </>
            ) : null}
            {kind === "bigquery" ? (
              <>
                {field("project", "Project", { required: true })}
                {field("dataset", "Dataset", { required: true })}
                {field("location", "Location")}
                <Textarea
                  label="Service account key (JSON)"
                  description="Write-only: it is shown masked once saved."
                  autosize
                  minRows={3}
                  value={fields.credentials_json}
                  onChange={(e) => setFields({ ...fields, credentials_json: e.currentTarget.value })}
                />
              </>
            ) : null}
            {kind === "duckdb" ? (
              <>
                {field("path", "File name", { description: "A plain file name in the organization's folder." })}
                {field("schema", "Schema")}
              </>
            ) : null}
            <ErrorAlert error={save.error} title="Could not save the warehouse" />
            {save.isSuccess ? (
              <Text c="teal.8" size="sm" role="status">
                Saved: the warehouse answered.
              </Text>
            ) : null}
            {editable ? (
              <Group>
                <Button type="submit" loading={save.isPending}>
                  {saved ? "Save and check" : "Set up the warehouse"}
                </Button>
                {saved ? (
                  <Button variant="light" onClick={() => check.mutate()} loading={check.isPending}>
                    Check the connection
                  </Button>
                ) : null}
              </Group>
            ) : null}
          </Stack>
        </fieldset>
      </form>
      <Stack mt="sm">
        <ErrorAlert error={check.error} />
        {checkRun ? <RunProgress key={checkRun} org={org} runId={checkRun} label="Check">{(run) => <CheckResult run={run} />}</RunProgress> : null}
      </Stack>
    </Card>
  );
}

function Explore({ org }: { org: string }) {
  const [chosen, setChosen] = useState<{ schema: string; table: string } | null>(null);
  const tables = useQuery({ queryKey: ["tables", org], queryFn: () => call(listTables({ path: { org } })) });
  const preview = useQuery({
    queryKey: ["preview", org, chosen],
    queryFn: () => call(previewTable({ path: { org, schema: chosen?.schema ?? "", table: chosen?.table ?? "" }, query: { limit: 50 } })),
    enabled: chosen !== null,
  });
  const schemas = new Map<string, string[]>();
  for (const table of tables.data ?? []) schemas.set(table.schema, [...(schemas.get(table.schema) ?? []), table.table]);
  return (
    <Card withBorder component="section" aria-label="Explore">
      <Title order={4} mb="xs">
        Explore
      </Title>
      <ErrorAlert error={tables.error} />
      {tables.isPending ? <Loading /> : null}
      {tables.data?.length === 0 ? <Text c="dimmed">No tables yet: run a sync.</Text> : null}
      <SimpleGrid cols={{ base: 1, md: 4 }}>
        <ScrollArea.Autosize mah={560}>
          <nav aria-label="Tables">
            {[...schemas.entries()].map(([schema, names]) => (
              <NavLink key={schema} label={schema} defaultOpened childrenOffset={12}>
                {names.map((table) => (
                  <NavLink key={table} label={table} active={chosen?.schema === schema && chosen.table === table} onClick={() => setChosen({ schema, table })} />
                ))}
              </NavLink>
            ))}
          </nav>
        </ScrollArea.Autosize>
        <div style={{ gridColumn: "span 3", minWidth: 0 }}>
          {chosen ? (
            <Stack gap="xs">
              <Text fw={500}>
                {chosen.schema}.{chosen.table}: the first rows
              </Text>
              <ErrorAlert error={preview.error} />
              {preview.isPending ? <Loading /> : null}
              {preview.data ? (
                <ScrollArea type="auto">
                  <Table striped withTableBorder data-testid="table-preview" fz="xs">
                    <Table.Thead>
                      <Table.Tr>
                        {preview.data.columns.map((column) => (
                          <Table.Th key={column}>{column}</Table.Th>
                        ))}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {preview.data.rows.map((row, index) => (
                        <Table.Tr key={index}>
                          {row.map((cell, column) => (
                            <Table.Td key={column}>{cell === null ? "∅" : typeof cell === "object" ? JSON.stringify(cell) : String(cell)}</Table.Td>
                          ))}
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </ScrollArea>
              ) : null}
            </Stack>
          ) : (
            <Text c="dimmed">Choose a table to see its first rows.</Text>
          )}
        </div>
      </SimpleGrid>
    </Card>
  );
}

export default function Warehouse() {
  const org = useOrg();
  const can = useCan();
  const warehouse = useQuery({ queryKey: ["warehouse", org], queryFn: () => call(readWarehouse({ path: { org } })) });
  const missing = isNotFound(warehouse.error);
  return (
    <Stack>
      <PageHeader title="Warehouse" description="Where the organization's data lands and where dbt builds its tables. Secrets are shown masked." />
      {warehouse.isPending ? <Loading /> : null}
      {warehouse.error && !missing ? <ErrorAlert error={warehouse.error} /> : null}
      {warehouse.data || missing ? <Setup org={org} saved={(warehouse.data as Record<string, unknown> | undefined) ?? null} /> : null}
      {warehouse.data && can("can_view_warehouse_data") ? <Explore org={org} /> : null}
    </Stack>
  );
}
