"""Tags and names of the Prefect objects made for an org (DESIGN.md section 3)."""

from __future__ import annotations

ORG_TAG_PREFIX = "org:"
KIND_TAG_PREFIX = "kind:"
TRIGGERED_BY_TAG_PREFIX = "triggered-by:"
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


def command_time_limit_variable(org: str) -> str:
    """The Prefect variable that holds how long one of the org's commands may run, in seconds
    (absent: the platform's default)."""
    return org_object_name(org, "command-time-limit-s")
