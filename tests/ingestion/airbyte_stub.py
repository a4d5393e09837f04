"""A scripted Airbyte server for tests: no Airbyte server can run on this machine.

It implements, following Airbyte's published API reference (https://reference.airbyte.com), the
endpoints Dalgo uses, with the request and response shapes documented there:

Public API (root `/api/public/v1`):
- `POST /applications/token` (client credentials, form or JSON) -> `{access_token, token_type, expires_in}`
- `POST /workspaces`, `DELETE /workspaces/{workspaceId}`
- `GET /sources?workspaceIds=&limit=&offset=`, `POST /sources`, `PATCH /sources/{sourceId}`,
  `DELETE /sources/{sourceId}`
- `GET /destinations?...`, `POST /destinations`, `PATCH /destinations/{destinationId}`
- `GET /connections?...`, `POST /connections`, `PATCH /connections/{connectionId}`,
  `DELETE /connections/{connectionId}`
- `POST /jobs` (jobType sync), `GET /jobs/{jobId}`, `DELETE /jobs/{jobId}` (cancel)
Config API (root `/api/v1`):
- `POST /jobs/get` `{id}` -> `{job, attempts: [{attempt: {streamStats, failureSummary}, logs: {logLines}}]}`

Every call but the token needs `Authorization: Bearer <the issued token>`. A job follows a script
set on the stub: it is pending for a poll, running for `running_polls` polls (one new log line per
poll), then ends as `outcome` (`succeeded` or `failed`); `outcome = "never"` keeps it running until
it is cancelled. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.secrets_registry import AIRBYTE_ACCESS_TOKEN, AIRBYTE_CLIENT_SECRET

PUBLIC = "/api/public/v1"
CONFIG = "/api/v1"
TOKEN = AIRBYTE_ACCESS_TOKEN


@dataclass
class Job:
    job_id: int
    connection_id: str
    polls: int = 0
    status: str = "pending"
    log_lines: list[str] = field(default_factory=list)


@dataclass
class AirbyteStub:
    """The server's state and script; `url` is its public API root once started."""

    client_id: str = "dalgo-client"
    client_secret: str = AIRBYTE_CLIENT_SECRET
    running_polls: int = 3
    outcome: str = "succeeded"
    rows: int = 42
    workspaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def calls(self, method: str, prefix: str) -> list[str]:
        with self.lock:
            return [path for m, path in self.requests if m == method and path.startswith(prefix)]

    def advance(self, job: Job) -> None:
        """One poll of the job's status moves it along its script."""
        if job.status in ("succeeded", "failed", "cancelled"):
            return
        job.polls += 1
        if job.polls == 1:
            job.status = "pending"
        elif self.outcome == "never" or job.polls <= self.running_polls + 1:
            job.status = "running"
            job.log_lines.append(f"replication progress: poll {job.polls} of job {job.job_id}")
        else:
            job.status = self.outcome
            job.log_lines.append(f"job {job.job_id} {self.outcome}")

    def job_body(self, job: Job) -> dict[str, Any]:
        done = job.status == "succeeded"
        return {
            "jobId": job.job_id,
            "status": job.status,
            "jobType": "sync",
            "startTime": "2026-11-24T00:00:00Z",
            "connectionId": job.connection_id,
            "rowsSynced": self.rows if done else 0,
            "bytesSynced": self.rows * 100 if done else 0,
        }

    def attempts(self, job: Job) -> list[dict[str, Any]]:
        attempt: dict[str, Any] = {"id": 0, "status": job.status}
        if job.status == "succeeded":
            attempt["streamStats"] = [
                {
                    "streamName": "users",
                    "stats": {"recordsCommitted": self.rows, "bytesCommitted": self.rows * 100},
                }
            ]
        if job.status == "failed":
            attempt["failureSummary"] = {
                "failures": [{"externalMessage": "Source could not connect: the password was rejected"}]
            }
        return [{"attempt": attempt, "logs": {"logLines": list(job.log_lines)}}]


def _handler(stub: AirbyteStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            with stub.lock:
                stub.bodies.append(raw)
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                return {k: v[0] for k, v in parse_qs(raw).items()}
            return json.loads(raw) if raw else {}

        def _handle(self, method: str) -> None:
            parsed = urlparse(self.path)
            path, query = parsed.path, parse_qs(parsed.query)
            with stub.lock:
                stub.requests.append((method, path))
            if method == "POST" and path == f"{PUBLIC}/applications/token":
                body = self._body()
                if (
                    body.get("client_id") == stub.client_id
                    and body.get("client_secret") == stub.client_secret
                ):
                    self._reply(200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 180})
                else:
                    self._reply(401, {"message": "Invalid client credentials"})
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, {"message": "Unauthorized"})
                return
            body = self._body() if method in ("POST", "PATCH") else {}
            with stub.lock:
                status, answer = route(stub, method, path, query, body)
            self._reply(status, answer)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _listing(items: dict[str, dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    workspaces = set(query.get("workspaceIds", []))
    found = [i for i in items.values() if not workspaces or i["workspaceId"] in workspaces]
    offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["20"])[0])
    return {"data": found[offset : offset + limit]}


def route(
    stub: AirbyteStub, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
) -> tuple[int, Any]:
    parts = path.removeprefix(PUBLIC).strip("/").split("/")
    now = int(time.time())
    if method == "POST" and path == f"{CONFIG}/jobs/get":
        job = stub.jobs.get(int(body["id"]))
        if job is None:
            return 404, {"message": "job not found"}
        return 200, {"job": stub.job_body(job), "attempts": stub.attempts(job)}
    kind = parts[0]
    if kind == "workspaces" and method == "POST":
        workspace_id = str(uuid.uuid4())
        stub.workspaces[workspace_id] = {
            "workspaceId": workspace_id,
            "name": body["name"],
            "dataResidency": "auto",
            "notifications": {},
        }
        return 200, stub.workspaces[workspace_id]
    if kind == "workspaces" and method == "DELETE":
        workspace_id = parts[1]
        for table in (stub.sources, stub.destinations, stub.connections):
            for key in [k for k, v in table.items() if v["workspaceId"] == workspace_id]:
                del table[key]
        return (204, None) if stub.workspaces.pop(workspace_id, None) else (404, {"message": "no workspace"})
    tables = {"sources": stub.sources, "destinations": stub.destinations, "connections": stub.connections}
    if kind in tables:
        table = tables[kind]
        id_key = {"sources": "sourceId", "destinations": "destinationId", "connections": "connectionId"}[kind]
        if method == "GET" and len(parts) == 1:
            return 200, _listing(table, query)
        if method == "POST":
            new_id = str(uuid.uuid4())
            if kind == "connections":
                workspace = stub.sources[body["sourceId"]]["workspaceId"]
                item = {
                    "connectionId": new_id,
                    "name": body["name"],
                    "sourceId": body["sourceId"],
                    "destinationId": body["destinationId"],
                    "workspaceId": workspace,
                    "status": "active",
                    "schedule": {"scheduleType": "manual"},
                    "configurations": body.get("configurations") or {"streams": []},
                    "namespaceDefinition": body.get("namespaceDefinition"),
                    "namespaceFormat": body.get("namespaceFormat"),
                    "createdAt": now,
                    "tags": [],
                }
            else:
                if body["workspaceId"] not in stub.workspaces:
                    return 404, {"message": "no such workspace"}
                type_key = "sourceType" if kind == "sources" else "destinationType"
                item = {
                    id_key: new_id,
                    "name": body["name"],
                    "workspaceId": body["workspaceId"],
                    "configuration": body["configuration"],
                    type_key: body["configuration"][type_key],
                    "definitionId": str(uuid.uuid5(uuid.NAMESPACE_URL, body["configuration"][type_key])),
                    "createdAt": now,
                }
            table[new_id] = item
            return 200, item
        item_id = parts[1] if len(parts) > 1 else ""
        if item_id not in table:
            return 404, {"message": f"no such {kind[:-1]}"}
        if method == "PATCH":
            for key, value in body.items():
                if value is not None:
                    table[item_id][key] = value
            return 200, table[item_id]
        if method == "DELETE":
            del table[item_id]
            return 204, None
    if kind == "jobs":
        if method == "POST":
            if body.get("connectionId") not in stub.connections:
                return 404, {"message": "no such connection"}
            job = Job(job_id=len(stub.jobs) + 1, connection_id=body["connectionId"])
            stub.jobs[job.job_id] = job
            return 200, stub.job_body(job)
        job_or_none = stub.jobs.get(int(parts[1]))
        if job_or_none is None:
            return 404, {"message": "no such job"}
        if method == "GET":
            stub.advance(job_or_none)
            return 200, stub.job_body(job_or_none)
        if method == "DELETE":
            job_or_none.status = "cancelled"
            return 200, stub.job_body(job_or_none)
    return 404, {"message": f"no endpoint {method} {path}"}


def start(stub: AirbyteStub) -> ThreadingHTTPServer:
    """Serve the stub on a free port in a background thread; stop it with `.shutdown()`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}{PUBLIC}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
