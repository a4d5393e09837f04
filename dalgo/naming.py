"""Tags and names of the Prefect objects made for an org (DESIGN.md section 3), and the names of
the states and block types that are ours: the one module that spells them (tests/test_naming_literals.py
fails on such a literal anywhere else under dalgo/)."""

from __future__ import annotations

import uuid

ORG_TAG_PREFIX = "org:"
KIND_TAG_PREFIX = "kind:"
TRIGGERED_BY_TAG_PREFIX = "triggered-by:"
PLATFORM_TAG = "dalgo:platform"
"""The tag of the platform's own deployments (prefect.yaml names it too)."""
OPERATIONS_TAG = "dalgo:operation"
"""The tag of the platform deployments that run one-off operations for orgs."""
RUN_KINDS = ("sync", "dbt", "git", "pipeline", "check", "discover", "maintenance")


def org_tag(org: str) -> str:
    """The tag every Prefect object of the org carries."""
    return f"{ORG_TAG_PREFIX}{org}"


def org_deletion_tag(org: str) -> str:
    """The tag of the run that deletes the org: not `org:<slug>`, so that nothing is left
    tagged with the org once it is gone, yet its members can follow the run until then."""
    return f"deleting-org:{org}"


def kind_tag(kind: str) -> str:
    """The tag that says what kind of work a run or deployment is."""
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}")
    return f"{KIND_TAG_PREFIX}{kind}"


def triggered_by_tag(email: str) -> str:
    """The tag naming who started a run by hand (scheduled runs have none)."""
    return f"{TRIGGERED_BY_TAG_PREFIX}{email}"


ORG_NAME_SEPARATOR = "--"


def org_object_prefix(org: str) -> str:
    """What every name of the org's objects starts with. Slugs never hold a double dash, so the
    prefix of org `north` is never the start of a name of org `north-east`."""
    return f"{org}{ORG_NAME_SEPARATOR}"


def org_object_name(org: str, *parts: str) -> str:
    """A name for an org's object: the slug, a double dash, then the parts joined by dashes."""
    return org_object_prefix(org) + "-".join(parts)


def tag_value(tags: list[str], prefix: str) -> str | None:
    """The value of the first tag with the prefix, or None."""
    for tag in tags:
        if tag.startswith(prefix):
            return tag.removeprefix(prefix)
    return None


def _hex(object_id: uuid.UUID | str) -> str:
    """An id as it appears in names: 32 hex digits, no dashes."""
    return object_id.hex if isinstance(object_id, uuid.UUID) else object_id.replace("-", "")


CONNECTION_TAG_PREFIX = "connection:"
PIPELINE_TAG_PREFIX = "pipeline:"
PIPELINE_RUN_TAG_PREFIX = "pipeline-run:"
WORKSPACE_RESOURCE = "dbt-workspace"
"""The tag of a run on the org's dbt workspace, and the resource its lock is named after."""


def connection_tag(connection_id: uuid.UUID | str) -> str:
    """The tag of a connection's sync deployment and runs; also the resource its lock is named after."""
    return f"{CONNECTION_TAG_PREFIX}{connection_id}"


def pipeline_tag(pipeline_id: uuid.UUID | str) -> str:
    """The tag of a pipeline's deployment, its runs and its steps' runs."""
    return f"{PIPELINE_TAG_PREFIX}{pipeline_id}"


def pipeline_run_tag(run_id: uuid.UUID | str) -> str:
    """The tag of a pipeline's step run that names the pipeline run it belongs to."""
    return f"{PIPELINE_RUN_TAG_PREFIX}{run_id}"


LOCK_PREFIX = "lock:"
TAG_LIMIT_PREFIX = "tag:"
"""Prefect's prefix for the global concurrency limit behind a tag concurrency limit."""


def lock_name(org: str, resource: str) -> str:
    """The global concurrency limit (limit 1) that locks one of the org's resources."""
    return f"{LOCK_PREFIX}{org}:{resource}"


def org_lock_prefix(org: str) -> str:
    """What the names of all the org's locks start with."""
    return lock_name(org, "")


def lock_org(name: str) -> str:
    """The org slug of a lock named `lock:<org>:<resource>`."""
    return name.removeprefix(LOCK_PREFIX).split(":", 1)[0]


def connection_lock(org: str, connection_id: uuid.UUID | str) -> str:
    """The lock a sync of the connection holds while it runs."""
    return lock_name(org, connection_tag(connection_id))


def dbt_workspace_lock(org: str) -> str:
    """The lock a command on the org's dbt workspace holds while it runs."""
    return lock_name(org, WORKSPACE_RESOURCE)


def org_limit_name(org: str) -> str:
    """Prefect's name for the tag concurrency limit on `org:<slug>`: the org's run slots."""
    return f"{TAG_LIMIT_PREFIX}{org_tag(org)}"


def org_of_limit(name: str) -> str | None:
    """The org slug of an org's run-slot limit `tag:org:<slug>`, or None for any other limit."""
    prefix = f"{TAG_LIMIT_PREFIX}{ORG_TAG_PREFIX}"
    return name.removeprefix(prefix) if name.startswith(prefix) else None


SYNC_FLOW_NAME = "sync-connection"
PIPELINE_FLOW_NAME = "pipeline"
CHECK_WAREHOUSE_FLOW_NAME = "check-warehouse"
CHECK_SOURCE_FLOW_NAME = "check-source"
DISCOVER_SOURCE_FLOW_NAME = "discover-source"
DBT_OPERATION_FLOW_NAME = "dbt-operation"
DELETE_ORG_FLOW_NAME = "delete-org"
"""The names of the flows the platform runs on demand; each is also the name of its platform
deployment (`dalgo.deployments.operations`)."""
GIT_PULL_OPERATION = "git-pull"
"""The platform deployment that runs the dbt-operation flow to pull a workspace's repository."""


def sync_deployment_suffix(connection_id: uuid.UUID | str) -> str:
    """The name of a connection's sync deployment without the slug (the factory prefixes it)."""
    return f"sync-{_hex(connection_id)}"


def sync_deployment_name(org: str, connection_id: uuid.UUID | str) -> str:
    """The name of a connection's sync deployment."""
    return org_object_name(org, sync_deployment_suffix(connection_id))


def sync_run_name(org: str, connection_id: uuid.UUID | str, nonce: str) -> str:
    """The name of a sync run started by hand."""
    return org_object_name(org, "sync", _hex(connection_id)[:8], nonce)


def sync_step_label(connection_id: uuid.UUID | str) -> str:
    """How a pipeline names its step that syncs the connection."""
    return f"sync-{_hex(connection_id)[:8]}"


def pipeline_deployment_suffix(pipeline_id: uuid.UUID | str) -> str:
    """The name of a pipeline's deployment without the slug (the factory prefixes it)."""
    return f"pipeline-{_hex(pipeline_id)}"


def pipeline_run_name(org: str, pipeline_id: uuid.UUID | str, nonce: str) -> str:
    """The name of a pipeline run: the slug, the pipeline's id (short) and something unique."""
    return org_object_name(org, "pipeline", _hex(pipeline_id)[:8], nonce)


def step_run_name(org: str, index: int, label: str) -> str:
    """The name of the run of a pipeline's step."""
    return org_object_name(org, f"step{index}", label)


WAREHOUSE_BLOCK_TYPE = "dalgo-warehouse"
SOURCE_BLOCK_TYPE = "dalgo-source"
CONNECTION_BLOCK_TYPE = "dalgo-connection"
DBT_WORKSPACE_BLOCK_TYPE = "dalgo-dbt-workspace"
INGESTION_ENGINE_BLOCK_TYPE = "dalgo-ingestion-engine"
AIRBYTE_SERVER_BLOCK_TYPE = "dalgo-airbyte-server"
BLOCK_TYPE_PREFIX = "dalgo-"
"""What the slugs of the platform's own block types start with."""
AIRBYTE_SERVER_BLOCK_NAME = "dalgo-platform-airbyte-server"
"""The one platform-wide block with the Airbyte server's address and credentials."""


def warehouse_block_name(org: str) -> str:
    """The name of the org's warehouse block."""
    return org_object_name(org, "warehouse")


def source_block_prefix(org: str) -> str:
    """What the names of the blocks of all the org's sources start with (then the source's id)."""
    return org_object_name(org, "source") + "-"


def source_block_name(org: str, source_id: uuid.UUID | str) -> str:
    """The name of the block of one of the org's sources."""
    return source_block_prefix(org) + _hex(source_id)


def connection_block_suffix(connection_id: uuid.UUID | str) -> str:
    """The name of a connection's block without the slug (the factory prefixes it)."""
    return f"connection-{_hex(connection_id)}"


def connection_block_prefix(org: str) -> str:
    """What the names of the blocks of all the org's connections start with (then the id)."""
    return org_object_name(org, "connection") + "-"


def connection_block_name(org: str, connection_id: uuid.UUID | str) -> str:
    """The name of the block of one of the org's connections."""
    return org_object_name(org, connection_block_suffix(connection_id))


def workspace_block_name(org: str) -> str:
    """The name of the org's dbt workspace block."""
    return org_object_name(org, WORKSPACE_RESOURCE)


def ingestion_engine_block_name(org: str) -> str:
    """The name of the block holding the org's choice of ingestion engine."""
    return org_object_name(org, "ingestion-engine")


COMPLETED_WITH_WARNINGS = "CompletedWithWarnings"
"""The name of the Completed state a run ends in when dbt tests fail (or a pipeline step did)."""
WAITING_FOR_LOCK = "WaitingForLock"
"""The name of the Running state of a run that waits for a locked resource."""
AWAITING_SLOT = "AwaitingConcurrencySlot"
"""Prefect's own name for a run waiting for a concurrency slot: here, one of its org's run slots."""


def command_time_limit_variable(org: str) -> str:
    """The Prefect variable that holds how long one of the org's commands may run, in seconds
    (absent: the platform's default)."""
    return org_object_name(org, "command-time-limit-s")
