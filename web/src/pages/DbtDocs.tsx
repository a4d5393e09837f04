/** The dbt docs the last `docs-generate` made, shown in a sandboxed frame: the page is the
 * tenant's, so its scripts run in an opaque origin and never reach this app's storage. */
import { Anchor, Group, Stack, Text } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";

import { useOrg } from "../auth";
import { readDocs } from "../client";
import { ErrorAlert, Loading, PageHeader } from "../components/common";
import { call } from "../errors";

export default function DbtDocs() {
  const org = useOrg();
  const docs = useQuery({
    queryKey: ["dbt-docs", org],
    queryFn: () => call<string>(readDocs({ path: { org }, parseAs: "text" }) as Promise<{ data?: string; error?: unknown; response?: Response }>),
  });
  return (
    <Stack h="calc(100vh - 100px)">
      <PageHeader title="dbt docs">
        <Group>
          <Anchor component={Link} to={`/orgs/${org}/transform`} size="sm">
            Back to Transform
          </Anchor>
        </Group>
      </PageHeader>
      {docs.isPending ? <Loading /> : null}
      <ErrorAlert error={docs.error} />
      {docs.error ? <Text size="sm">Run the docs-generate command on the Transform page to make them.</Text> : null}
      {docs.data ? (
        <iframe
          title="dbt docs"
          sandbox="allow-scripts allow-popups"
          srcDoc={docs.data}
          style={{ flex: 1, width: "100%", border: "1px solid var(--mantine-color-gray-3)", borderRadius: 4 }}
        />
      ) : null}
    </Stack>
  );
}
