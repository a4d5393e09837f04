"""A small, typed client of an Airbyte server's public API (through the airbyte-api SDK) and of the
one Config API call the public API lacks (a job's attempts, with their log lines and stream stats).

Endpoints used (Airbyte API reference, https://reference.airbyte.com):
`POST /applications/token`, `POST /workspaces`, `DELETE /workspaces/{id}`,
`GET/POST /sources`, `PATCH/DELETE /sources/{id}`, `GET/POST /destinations`, `PATCH /destinations/{id}`,
`GET/POST /connections`, `PATCH/DELETE /connections/{id}`, `POST /jobs`, `GET/DELETE /jobs/{id}`;
Config API: `POST /api/v1/jobs/get`.
"""

from __future__ import annotations

import functools
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from dalgo.blocks.ingestion import AirbyteServerBlock

T = TypeVar("T")
TERMINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})
PAGE = 100


class _LazyModule:
    """A module imported when one of its names is first used. The airbyte-api SDK takes seconds to
    import (a model class per connector); only orgs whose engine is an Airbyte server need it, so
    the API, embedded syncs and pipelines that never call a server never import it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


airbyte_api = _LazyModule("airbyte_api")
api = _LazyModule("airbyte_api.api")
errors = _LazyModule("airbyte_api.errors")
models = _LazyModule("airbyte_api.models")


class AirbyteServerError(RuntimeError):
    """The Airbyte server refused a request or could not be reached; the message says which."""


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout on every request (the SDK sets none)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def _reason(body: str) -> str:
    """The server's own sentence from an error body, without echoing the whole body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(parsed, dict):
        for key in ("detail", "message", "title"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])[:300]
    return ""


@dataclass(frozen=True)
class JobStatus:
    """Where an Airbyte job stands."""

    job_id: int
    status: str
    rows_synced: int
    bytes_synced: int

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_JOB_STATES


@dataclass
class JobDetails:
    """A job's attempts as the Config API describes them: their log lines and per-stream totals."""

    log_lines: list[str] = field(default_factory=list)
    streams: dict[str, dict[str, int]] = field(default_factory=dict)
    failure: str | None = None


class AirbyteServer:
    """The calls Dalgo makes to one Airbyte server, each turned into AirbyteServerError on failure."""

    def __init__(self, block: AirbyteServerBlock, timeout_s: float = 30.0) -> None:
        self.block = block
        self.api_url = block.api_url.rstrip("/")
        self._session = _TimeoutSession(timeout_s)
        self._token: tuple[str, float] | None = None
        if block.bearer_token is not None:
            security = models.Security(bearer_auth=block.bearer_token.get_secret_value())
        elif block.client_id and block.client_secret is not None:
            security = models.Security(
                client_credentials=models.SchemeClientCredentials(
                    client_id=block.client_id,
                    client_secret=block.client_secret.get_secret_value(),
                    token_url=f"{self.api_url}/applications/token",
                )
            )
        else:
            raise AirbyteServerError(
                "The Airbyte server block has neither a bearer token nor a client id and secret."
            )
        self.sdk = airbyte_api.AirbyteAPI(security=security, server_url=self.api_url, client=self._session)

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except errors.SDKError as exc:
            reason = _reason(exc.body)
            because = f": {reason}" if reason else ""
            raise AirbyteServerError(
                f"The Airbyte server refused to {what} (HTTP {exc.status_code}){because}."
            ) from None
        except requests.RequestException as exc:
            raise AirbyteServerError(
                f"The Airbyte server at {self.api_url} could not be reached to {what}: {type(exc).__name__}."
            ) from None
        except Exception as exc:  # noqa: BLE001 - the SDK's token hook raises bare Exceptions
            raise AirbyteServerError(f"The Airbyte server could not be asked to {what}: {exc}") from None

    @staticmethod
    def _payload(what: str, value: T | None) -> T:
        if value is None:
            raise AirbyteServerError(f"The Airbyte server answered {what} without a body.")
        return value

    def create_workspace(self, name: str) -> str:
        request = models.WorkspaceCreateRequest(name=name, organization_id=self.block.organization_id)
        response = self._call("create a workspace", lambda: self.sdk.workspaces.create_workspace(request))
        return str(self._payload("the new workspace", response.workspace_response).workspace_id)

    def delete_workspace(self, workspace_id: str) -> None:
        request = api.DeleteWorkspaceRequest(workspace_id=workspace_id)
        self._call("delete a workspace", lambda: self.sdk.workspaces.delete_workspace(request))

    def _find(
        self, what: str, name: str, page_of: Callable[[int], list[Any]], id_of: Callable[[Any], str]
    ) -> str | None:
        """The id of the workspace's object with this name, paging through the list; None if none."""
        offset = 0
        while True:
            page = self._call(f"list {what}", functools.partial(page_of, offset))
            for item in page:
                if item.name == name:
                    return str(id_of(item))
            if len(page) < PAGE:
                return None
            offset += PAGE

    def find_source(self, workspace_id: str, name: str) -> str | None:
        def page_of(offset: int) -> list[Any]:
            request = api.ListSourcesRequest(workspace_ids=[workspace_id], limit=PAGE, offset=offset)
            return list(
                self._payload("the source list", self.sdk.sources.list_sources(request).sources_response).data
            )

        return self._find("sources", name, page_of, lambda item: item.source_id)

    def put_source(self, workspace_id: str, name: str, config: dict[str, Any]) -> str:
        """Create the source, or update it when one of that name exists; its id."""
        existing = self.find_source(workspace_id, name)
        if existing is None:
            create = models.SourceCreateRequest(name=name, workspace_id=workspace_id, configuration=config)
            response = self._call("create a source", lambda: self.sdk.sources.create_source(create))
            return str(self._payload("the new source", response.source_response).source_id)
        patch = api.PatchSourceRequest(
            source_id=existing,
            source_patch_request=models.SourcePatchRequest(name=name, configuration=config),
        )
        self._call("update a source", lambda: self.sdk.sources.patch_source(patch))
        return existing

    def delete_source(self, workspace_id: str, name: str) -> bool:
        existing = self.find_source(workspace_id, name)
        if existing is None:
            return False
        request = api.DeleteSourceRequest(source_id=existing)
        self._call("delete a source", lambda: self.sdk.sources.delete_source(request))
        return True

    def find_destination(self, workspace_id: str, name: str) -> str | None:
        def page_of(offset: int) -> list[Any]:
            request = api.ListDestinationsRequest(workspace_ids=[workspace_id], limit=PAGE, offset=offset)
            response = self.sdk.destinations.list_destinations(request)
            return list(self._payload("the destination list", response.destinations_response).data)

        return self._find("destinations", name, page_of, lambda item: item.destination_id)

    def put_destination(self, workspace_id: str, name: str, config: dict[str, Any]) -> str:
        """Create the destination, or update it when one of that name exists; its id."""
        existing = self.find_destination(workspace_id, name)
        if existing is None:
            create = models.DestinationCreateRequest(
                name=name, workspace_id=workspace_id, configuration=config
            )
            response = self._call(
                "create a destination", lambda: self.sdk.destinations.create_destination(create)
            )
            return str(self._payload("the new destination", response.destination_response).destination_id)
        patch = api.PatchDestinationRequest(
            destination_id=existing,
            destination_patch_request=models.DestinationPatchRequest(name=name, configuration=config),
        )
        self._call("update a destination", lambda: self.sdk.destinations.patch_destination(patch))
        return existing

    def find_connection(self, workspace_id: str, name: str) -> str | None:
        def page_of(offset: int) -> list[Any]:
            request = api.ListConnectionsRequest(workspace_ids=[workspace_id], limit=PAGE, offset=offset)
            response = self.sdk.connections.list_connections(request)
            return list(self._payload("the connection list", response.connections_response).data)

        return self._find("connections", name, page_of, lambda item: item.connection_id)

    def put_connection(
        self,
        workspace_id: str,
        name: str,
        source_id: str,
        destination_id: str,
        streams: list[str] | None,
        schema: str,
    ) -> str:
        """Create the connection (manual schedule, into `schema`), or update its streams; its id."""
        configurations = (
            models.StreamConfigurations(streams=[models.StreamConfiguration(name=s) for s in streams])
            if streams is not None
            else None
        )
        existing = self.find_connection(workspace_id, name)
        if existing is None:
            create = models.ConnectionCreateRequest(
                name=name,
                source_id=source_id,
                destination_id=destination_id,
                configurations=configurations,
                namespace_definition=models.NamespaceDefinitionEnum.CUSTOM_FORMAT,
                namespace_format=schema,
                schedule=models.AirbyteAPIConnectionSchedule(schedule_type=models.ScheduleTypeEnum.MANUAL),
            )
            response = self._call(
                "create a connection", lambda: self.sdk.connections.create_connection(create)
            )
            return str(self._payload("the new connection", response.connection_response).connection_id)
        patch = api.PatchConnectionRequest(
            connection_id=existing,
            connection_patch_request=models.ConnectionPatchRequest(
                name=name,
                configurations=configurations,
                namespace_definition=models.NamespaceDefinitionEnum.CUSTOM_FORMAT,
                namespace_format=schema,
            ),
        )
        self._call("update a connection", lambda: self.sdk.connections.patch_connection(patch))
        return existing

    def delete_connection(self, workspace_id: str, name: str) -> bool:
        existing = self.find_connection(workspace_id, name)
        if existing is None:
            return False
        request = api.DeleteConnectionRequest(connection_id=existing)
        self._call("delete a connection", lambda: self.sdk.connections.delete_connection(request))
        return True

    def start_sync(self, connection_id: str) -> int:
        """Start a sync job of the connection; its job id."""
        request = models.JobCreateRequest(connection_id=connection_id, job_type=models.JobTypeEnum.SYNC)
        response = self._call("start a sync", lambda: self.sdk.jobs.create_job(request))
        return int(self._payload("the new job", response.job_response).job_id)

    def job(self, job_id: int) -> JobStatus:
        request = api.GetJobRequest(job_id=job_id)
        job = self._payload(
            "the job", self._call("read a job", lambda: self.sdk.jobs.get_job(request)).job_response
        )
        return JobStatus(
            job.job_id, str(job.status.value), int(job.rows_synced or 0), int(job.bytes_synced or 0)
        )

    def cancel_job(self, job_id: int) -> None:
        request = api.CancelJobRequest(job_id=job_id)
        self._call("cancel a job", lambda: self.sdk.jobs.cancel_job(request))

    def _bearer_token(self) -> str:
        if self.block.bearer_token is not None:
            return self.block.bearer_token.get_secret_value()
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        secret = self.block.client_secret.get_secret_value() if self.block.client_secret else ""
        response = self._call(
            "issue an access token",
            lambda: self._session.post(
                f"{self.api_url}/applications/token",
                json={
                    "client_id": self.block.client_id,
                    "client_secret": secret,
                    "grant-type": "client_credentials",
                },
            ),
        )
        if response.status_code != 200:
            raise AirbyteServerError(
                f"The Airbyte server refused the platform's credentials (HTTP {response.status_code})."
            )
        token = str(response.json()["access_token"])
        self._token = (token, time.monotonic() + 60)
        return token

    def job_details(self, job_id: int) -> JobDetails:
        """The job's log lines (every attempt, oldest first), per-stream totals and failure reason."""
        url = f"{self.block.resolved_config_api_url()}/jobs/get"
        headers = {"Authorization": f"Bearer {self._bearer_token()}"}
        response = self._call(
            "read a job's logs", lambda: self._session.post(url, json={"id": job_id}, headers=headers)
        )
        if response.status_code != 200:
            raise AirbyteServerError(
                f"The Airbyte server refused to read a job's logs (HTTP {response.status_code})."
            )
        return parse_job_details(response.json())


def parse_job_details(body: dict[str, Any]) -> JobDetails:
    """A Config API `jobs/get` answer as JobDetails (log lines as text lines or as events)."""
    details = JobDetails()
    for attempt in body.get("attempts") or []:
        logs = attempt.get("logs") or {}
        if logs.get("events"):
            details.log_lines += [f"{e.get('level', 'INFO')}: {e.get('message', '')}" for e in logs["events"]]
        else:
            details.log_lines += [str(line) for line in logs.get("logLines") or []]
        info = attempt.get("attempt") or {}
        for stat in info.get("streamStats") or []:
            totals = stat.get("stats") or {}
            details.streams[str(stat.get("streamName"))] = {
                "records": int(totals.get("recordsCommitted") or totals.get("recordsEmitted") or 0),
                "bytes": int(totals.get("bytesCommitted") or totals.get("bytesEmitted") or 0),
            }
        failure = (info.get("failureSummary") or {}).get("failures") or []
        if failure:
            details.failure = str(
                failure[0].get("externalMessage") or failure[0].get("internalMessage") or ""
            )
    return details
