"""The suite's secret scan: where the known test secrets (tests/secrets_registry.py) must never be.

A session records every answer its TestClients receive, every mail its SMTP sink takes and every
log line the test process writes (the in-process API's among them). At its end it scans those, the
mails in outboxes and the log files (a Prefect server's, a worker's, dbt's) under the session's
temporary folder, and the session's databases: in a Prefect database the log lines, flow-run
parameters and job variables, deployment parameters, run state messages and artifacts (a run's
result); in an API database the audit entries. Requests are not recorded: a secret is expected in
the body that sets it.

Each database source is one SQL query that lets Postgres find the rows holding any secret
(`LIKE ANY`), so only leaking rows come back to Python.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg2

EXCERPT_CHARS = 60
REPORTED_LEAKS = 100
SKIPPED_FOLDERS = frozenset({".venv", "site-packages", "node_modules", ".git"})
"""Folders under the session's temporary folder that hold installed code, not what the suite wrote."""


@dataclass
class ResponseRecorder:
    """Every answer the session's TestClients received: (method, url, body)."""

    bodies: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, method: str, url: str, content: bytes) -> None:
        self.bodies.append((method, url, content.decode("utf-8", "replace")))

    def __call__(self, response: httpx.Response) -> None:
        """Records a response (read in full); usable as an httpx response hook."""
        response.read()
        self.record(response.request.method, str(response.request.url), response.content)


class LogRecorder(logging.Handler):
    """Every log line the test process wrote (the in-process API's among them), formatted with
    its exception, if any."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.name, self.format(record)))
        except Exception:  # noqa: BLE001 (a record that cannot be formatted is not a leak)
            self.handleError(record)


@dataclass
class SessionRecord:
    """What a test session produced that is scanned at its end, besides its databases and files."""

    answers: ResponseRecorder = field(default_factory=ResponseRecorder)
    mails: list[EmailMessage] = field(default_factory=list)
    logs: LogRecorder = field(default_factory=LogRecorder)


class _RecordingStream(httpx.SyncByteStream):
    """A streamed answer's body, passed through and recorded once it ends or is closed."""

    def __init__(self, inner: httpx.SyncByteStream, done: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._chunks: list[bytes] = []
        self._done = done
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk
        self._finish()

    def close(self) -> None:
        self._finish()
        self._inner.close()

    def _finish(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._done(b"".join(self._chunks))


SendFunction = Callable[..., httpx.Response]


def recording_send(original: SendFunction, recorder: ResponseRecorder) -> SendFunction:
    """An httpx `Client.send` that records every answer's body: read answers at once, streamed
    ones as they are read (without reading them on the caller's behalf)."""

    def send(client: httpx.Client, request: httpx.Request, **options: Any) -> httpx.Response:
        response = original(client, request, **options)
        method, url = request.method, str(request.url)
        if options.get("stream"):
            inner = response.stream
            assert isinstance(inner, httpx.SyncByteStream)
            response.stream = _RecordingStream(inner, lambda body: recorder.record(method, url, body))
        else:
            recorder.record(method, url, response.content)
        return response

    return send


@dataclass(frozen=True)
class Leak:
    """A known secret found where it must not be."""

    where: str
    secret: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: a secret ({masked(self.secret)}) in {self.excerpt!r}"


def masked(secret: str) -> str:
    """Enough of a secret to tell which one it is, not the secret."""
    return f"{secret[:4]}… ({len(secret)} characters)"


def forms(secrets: Iterable[str]) -> dict[str, str]:
    """Each secret as it may be written (as is, escaped inside a JSON string, percent-encoded in
    a URL), mapped to the secret."""
    found: dict[str, str] = {}
    for secret in secrets:
        for form in (secret, json.dumps(secret)[1:-1], quote(secret, safe="")):
            found.setdefault(form, secret)
    return found


def find_in_texts(texts: Iterable[tuple[str, str]], secrets: Collection[str]) -> list[Leak]:
    """The secrets in (where, text) pairs, each leak with an excerpt around the secret.

    Identical texts are searched once, and all of them together: one search of their
    concatenation per form of a secret (a session's answers are many megabytes)."""
    places: dict[str, list[str]] = {}
    for where, text in texts:
        places.setdefault(text, []).append(where)
    unique = list(places)
    starts = list(itertools.accumulate((len(text) + 1 for text in unique[:-1]), initial=0))
    joined = "\0".join(unique)
    found: dict[tuple[str, str], Leak] = {}
    for form, secret in forms(secrets).items():
        at = joined.find(form)
        while at >= 0:
            index = bisect.bisect_right(starts, at) - 1
            text, offset = unique[index], at - starts[index]
            window = text[max(0, offset - EXCERPT_CHARS) : offset + len(form) + EXCERPT_CHARS]
            excerpt = window.replace(form, "<secret>")
            for where in places[text]:
                found.setdefault((where, secret), Leak(where, secret, excerpt))
            at = joined.find(form, starts[index] + len(text) + 1)
    return list(found.values())


def find_in_text(where: str, text: str, secrets: Collection[str]) -> list[Leak]:
    """The secrets in one text, each with an excerpt around it."""
    return find_in_texts([(where, text)], secrets)


def scan_answers(recorder: ResponseRecorder, secrets: Collection[str]) -> list[Leak]:
    return find_in_texts(
        ((f"the answer to {method} {url}", body) for method, url, body in recorder.bodies), secrets
    )


def mail_text(message: Message) -> str:
    """A mail's headers and the decoded text of its parts (as a reader sees them, not as
    quoted-printable or base64)."""
    lines = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            lines.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(lines)


def scan_mails(mails: Iterable[Message], secrets: Collection[str]) -> list[Leak]:
    return find_in_texts(
        ((f"the mail to {mail['To']} ({mail['Subject']!r})", mail_text(mail)) for mail in mails), secrets
    )


def scan_log_lines(logs: LogRecorder, secrets: Collection[str]) -> list[Leak]:
    return find_in_texts(((f"a line of the logger {logger}", line) for logger, line in logs.lines), secrets)


def written_files(root: Path) -> Iterator[Path]:
    """The mails in outboxes (`outbox/*.eml`) and the log files (`*.log`: a server's, a worker's,
    dbt's) under root."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        in_outbox = Path(folder).name == "outbox"
        for name in files:
            if name.endswith(".log") or (in_outbox and name.endswith(".eml")):
                yield Path(folder) / name


def scan_files(root: Path, secrets: Collection[str]) -> list[Leak]:
    """The outbox mails (decoded) and log files under root."""
    leaks: list[Leak] = []
    for path in written_files(root):
        if path.suffix == ".eml":
            text = mail_text(message_from_bytes(path.read_bytes(), policy=policy.default))
            leaks += find_in_text(f"the mail in {path}", text, secrets)
        else:
            leaks += find_in_text(f"the log file {path}", path.read_text("utf-8", "replace"), secrets)
    return leaks


@dataclass(frozen=True)
class Source:
    """A place in a database to scan: one query over `table`, with `key` saying which row and
    `text` the text that must hold no secret (both SQL expressions)."""

    what: str
    table: str
    key: str
    text: str


PREFECT_SOURCES = (
    Source("log line", "log", "'of flow run ' || coalesce(flow_run_id::text, '-')", "message"),
    Source(
        "parameters or job variables of flow run",
        "flow_run",
        "id::text",
        "concat_ws(' ', parameters::text, job_variables::text)",
    ),
    Source(
        "parameters or job variables of deployment",
        "deployment",
        "name",
        "concat_ws(' ', parameters::text, infra_overrides::text, pull_steps::text)",
    ),
    Source("state message of flow run", "flow_run_state", "flow_run_id::text", "message"),
    Source("state message of task run", "task_run_state", "task_run_id::text", "message"),
    Source(
        "artifact (a run's result) of flow run",
        "artifact",
        "coalesce(flow_run_id::text, '-')",
        "concat_ws(' ', description, data::text)",
    ),
)
"""What a Prefect database holds that a person or a flow reads: a database with a `flow_run`
table is taken for one and must have all of these."""

KIND_QUERY = (
    "SELECT to_regclass('public.flow_run') IS NOT NULL, to_regclass('public.audit_entry') IS NOT NULL"
)
"""Whether a database is a Prefect one (it has flow runs), an API one (audit entries), or neither."""

API_SOURCES = (Source("audit entry", "audit_entry", "id::text", "to_jsonb(audit_entry)::text"),)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching any text that contains `text`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def scan_source(cursor: Any, database: str, source: Source, secrets: Collection[str]) -> list[Leak]:
    """Runs one source's query; the leaks in the rows it returns."""
    patterns = sorted({like_pattern(form) for form in forms(secrets)})
    cursor.execute(
        f"SELECT {source.key}, {source.text} FROM {source.table} WHERE {source.text} LIKE ANY(%s)",
        (patterns,),
    )
    leaks: list[Leak] = []
    for key, text in cursor.fetchall():
        leaks += find_in_text(f"database {database}: {source.what} {key}", text, secrets)
    return leaks


def database_exists(admin_url: str, name: str) -> bool:
    """Whether the server has the database (a test may have dropped one it made)."""
    connection = psycopg2.connect(admin_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        connection.close()


def scan_database(url: str, secrets: Collection[str]) -> list[Leak]:
    """Scans a Prefect or an API database (found by their tables); nothing in other databases,
    or in one that is gone."""
    if not secrets:
        return []
    server, database = url.rsplit("/", 1)
    if not database_exists(f"{server}/postgres", database):
        return []
    connection = psycopg2.connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(KIND_QUERY)
            is_prefect, is_api = cursor.fetchone()
            sources = (PREFECT_SOURCES if is_prefect else ()) + (API_SOURCES if is_api else ())
            leaks: list[Leak] = []
            for source in sources:
                leaks += scan_source(cursor, database, source, secrets)
            return leaks
    finally:
        connection.close()


def scan_session(
    record: SessionRecord, database_urls: Iterable[str], files_root: Path, secrets: Collection[str]
) -> list[Leak]:
    """Every leak of a known secret in what a session produced."""
    leaks = scan_answers(record.answers, secrets) + scan_mails(record.mails, secrets)
    leaks += scan_log_lines(record.logs, secrets) + scan_files(files_root, secrets)
    for url in database_urls:
        leaks += scan_database(url, secrets)
    return leaks


def report(leaks: Collection[Leak]) -> str:
    """The leaks, one a line, for a failure message."""
    shown = list(leaks)[:REPORTED_LEAKS]
    lines = [f"{len(leaks)} known test secret(s) leaked:"] + [f"- {leak}" for leak in shown]
    if len(leaks) > len(shown):
        lines.append(f"... and {len(leaks) - len(shown)} more")
    return "\n".join(lines)
