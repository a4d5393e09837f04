"""The session's secret scan finds a planted leak in each place it scans, and nothing in clean data.

The planted secrets here are not registered (tests/secrets_registry.py), so the session's own
scan, which records these tests' answers too, does not see them as leaks; the database leaks go
into a scratch database of their own, never the session's.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import psycopg2
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlmodel import Session

from dalgo.db.engine import make_engine, migrate
from dalgo.db.models import AuditEntry
from tests.secret_scan import (
    LogRecorder,
    ResponseRecorder,
    SessionRecord,
    find_in_texts,
    recording_send,
    report,
    scan_answers,
    scan_database,
    scan_files,
    scan_log_lines,
    scan_mails,
    scan_session,
)
from tests.secrets_registry import MIN_LENGTH, known_secrets, register_private_key, register_secret
from tests.support.databases import PG_URL, admin_execute

REPO = Path(__file__).resolve().parents[1]


def unregistered_secret() -> str:
    return f"planted-{uuid.uuid4().hex}"


def echo_app(secret: str) -> FastAPI:
    app = FastAPI()

    @app.get("/clean")
    def clean() -> dict[str, str]:
        return {"password": "********"}

    @app.get("/leak")
    def leak() -> dict[str, str]:
        return {"note": f'quoted "{secret}"\nand more'}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"first chunk ", secret.encode(), b" last chunk"]))

    return app


def test_answers_are_recorded_read_or_streamed_and_the_leaking_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = unregistered_secret()
    recorder = ResponseRecorder()
    monkeypatch.setattr(TestClient, "send", recording_send(TestClient.send, recorder))
    client = TestClient(echo_app(secret))
    assert client.get("/clean").status_code == 200
    assert scan_answers(recorder, [secret]) == []

    assert client.get("/leak").status_code == 200
    with client.stream("GET", "/stream") as streamed:
        assert secret.encode() in b"".join(streamed.iter_bytes())

    leaks = scan_answers(recorder, [secret])
    assert [leak.where for leak in leaks] == [
        "the answer to GET http://testserver/leak",
        "the answer to GET http://testserver/stream",
    ]
    assert leaks[1].excerpt == "first chunk <secret> last chunk"
    assert secret not in report(leaks), "the report names the place, not the secret"


def test_a_secret_escaped_in_json_or_encoded_in_a_url_is_found() -> None:
    secret = 'a "quoted" pass\\word'
    recorder = ResponseRecorder()
    recorder.record("GET", "http://testserver/a", json.dumps({"password": secret}).encode())
    recorder.record("GET", "http://testserver/b", b"https://x/login?password=a%20%22quoted%22%20pass%5Cword")
    recorder.record("GET", "http://testserver/c", b"a quoted password")
    assert [leak.where.rsplit("/", 1)[1] for leak in scan_answers(recorder, [secret])] == ["a", "b"]


def test_each_place_of_a_leak_is_named_once_per_secret() -> None:
    first, second = unregistered_secret(), unregistered_secret()
    texts = [
        ("answer 1", f"{first} and again {first}"),
        ("answer 2", f"{first} and again {first}"),
        ("answer 3", "clean"),
        ("answer 4", f"{second}"),
    ]
    found = [(leak.where, leak.secret, leak.excerpt) for leak in find_in_texts(texts, [first, second])]
    assert sorted(found) == [
        ("answer 1", first, "<secret> and again <secret>"),
        ("answer 2", first, "<secret> and again <secret>"),
        ("answer 4", second, "<secret>"),
    ]


def test_a_mail_is_read_decoded_and_an_outbox_is_found(tmp_path: Path) -> None:
    secret = unregistered_secret()
    mail = EmailMessage()
    mail["To"] = "someone@example.org"
    mail["Subject"] = "Your run failed"
    # Quoted-printable breaks long lines: the secret is only whole once the body is decoded.
    mail.set_content("x" * 60 + secret + " é", cte="quoted-printable")
    assert secret not in mail.as_string()
    clean = EmailMessage()
    clean["To"] = "someone@example.org"
    clean.set_content("Nothing to see.")

    leaks = scan_mails([clean, mail], [secret])
    assert [leak.where for leak in leaks] == ["the mail to someone@example.org ('Your run failed')"]

    outbox = tmp_path / "home" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "clean.eml").write_bytes(clean.as_bytes())
    assert scan_files(tmp_path, [secret]) == []
    (outbox / "alert.eml").write_bytes(mail.as_bytes())
    (leak,) = scan_files(tmp_path, [secret])
    assert leak.where == f"the mail in {outbox / 'alert.eml'}"


def test_log_lines_of_the_process_and_log_files_are_scanned(tmp_path: Path) -> None:
    secret = unregistered_secret()
    recorder = LogRecorder()
    logger = logging.getLogger("tests.secret_scan.probe")
    logger.addHandler(recorder)
    try:
        logger.warning("connecting to %s", "the warehouse")
        assert scan_log_lines(recorder, [secret]) == []
        try:
            raise RuntimeError(f"could not sign in with {secret}")
        except RuntimeError:
            logger.exception("the check failed")
    finally:
        logger.removeHandler(recorder)
    (leak,) = scan_log_lines(recorder, [secret])
    assert leak.where == "a line of the logger tests.secret_scan.probe"
    assert leak.excerpt.endswith("RuntimeError: could not sign in with <secret>"), "with its traceback"

    worker_log = tmp_path / "home" / "worker.log"
    worker_log.parent.mkdir()
    worker_log.write_text("Worker started\n")
    installed = tmp_path / ".venv" / "lib"
    installed.mkdir(parents=True)
    (installed / "setup.log").write_text(secret)
    assert scan_files(tmp_path, [secret]) == [], "installed code is not what the suite wrote"
    worker_log.write_text(f"Worker started\nflow run said {secret}\n")
    (leak,) = scan_files(tmp_path, [secret])
    assert leak.where == f"the log file {worker_log}"


@pytest.fixture()
def scratch_database() -> Iterator[str]:
    """A database of this test's own (not one of the session's, which the session scans)."""
    name = f"dalgo_scan_scratch_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PREFECT_TABLES = """
CREATE TABLE log (id uuid PRIMARY KEY, flow_run_id uuid, name varchar, message text);
CREATE TABLE flow_run (id uuid PRIMARY KEY, parameters jsonb, job_variables jsonb);
CREATE TABLE deployment (
    id uuid PRIMARY KEY, name varchar, parameters jsonb, infra_overrides jsonb, pull_steps jsonb
);
CREATE TABLE flow_run_state (id uuid PRIMARY KEY, flow_run_id uuid, message varchar);
CREATE TABLE task_run_state (id uuid PRIMARY KEY, task_run_id uuid, message varchar);
CREATE TABLE artifact (id uuid PRIMARY KEY, flow_run_id uuid, description varchar, data json);
"""
"""The columns of Prefect's tables that the scan reads (the session's scan reads the real ones)."""


def test_prefect_logs_parameters_and_states_are_scanned_with_where_each_leak_is(
    scratch_database: str,
) -> None:
    secret, other = unregistered_secret(), 'with "quotes" and 100%_-' + uuid.uuid4().hex
    leaking_run, clean_run = uuid.uuid4(), uuid.uuid4()
    connection = psycopg2.connect(scratch_database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(PREFECT_TABLES)
        cursor.execute(
            "INSERT INTO log VALUES (gen_random_uuid(), %s, 'x', 'a clean line'), "
            "(gen_random_uuid(), %s, 'x', %s)",
            (str(clean_run), str(leaking_run), f"connecting with password {secret}"),
        )
        cursor.execute(
            "INSERT INTO flow_run VALUES (%s, %s, '{}'), (%s, '{\"source_id\": \"s1\"}', %s)",
            (
                str(leaking_run),
                json.dumps({"config": {"key": other}}),
                str(clean_run),
                json.dumps({"env": {}}),
            ),
        )
        cursor.execute(
            "INSERT INTO deployment VALUES (gen_random_uuid(), 'org-a-pipeline', '{}', %s, NULL)",
            (json.dumps({"env": {"PASSWORD": secret}}),),
        )
        cursor.execute(
            "INSERT INTO flow_run_state VALUES (gen_random_uuid(), %s, %s)",
            (str(leaking_run), f"Failed: could not sign in with {other}"),
        )
        cursor.execute(
            "INSERT INTO task_run_state VALUES (gen_random_uuid(), gen_random_uuid(), 'Completed')"
        )
        cursor.execute(
            "INSERT INTO artifact VALUES (gen_random_uuid(), %s, 'result', %s)",
            (str(leaking_run), json.dumps({"ok": False, "message": f"refused {secret}"})),
        )
    connection.close()
    database = scratch_database.rsplit("/", 1)[1]

    assert scan_database(scratch_database, [unregistered_secret()]) == []
    found = {(leak.where, leak.secret) for leak in scan_database(scratch_database, [secret, other])}
    assert found == {
        (f"database {database}: log line of flow run {leaking_run}", secret),
        (f"database {database}: parameters or job variables of flow run {leaking_run}", other),
        (f"database {database}: parameters or job variables of deployment org-a-pipeline", secret),
        (f"database {database}: state message of flow run {leaking_run}", other),
        (f"database {database}: artifact (a run's result) of flow run {leaking_run}", secret),
    }


def test_audit_entries_of_a_migrated_api_database_are_scanned(scratch_database: str) -> None:
    secret = unregistered_secret()
    engine = make_engine(scratch_database)
    migrate(engine)
    with Session(engine) as session:
        session.add(AuditEntry(action="update_warehouse", status_code=200, object_id="wh-1"))
        leaking = AuditEntry(
            action="update_warehouse", status_code=200, details=json.dumps({"fields": [secret]})
        )
        session.add(leaking)
        session.commit()
        leaking_id = leaking.id
    engine.dispose()
    assert scan_database(scratch_database, [unregistered_secret()]) == []
    (leak,) = scan_database(scratch_database, [secret])
    assert leak.where == f"database {scratch_database.rsplit('/', 1)[1]}: audit entry {leaking_id}"


def test_a_clean_session_record_has_no_leaks(tmp_path: Path) -> None:
    record = SessionRecord()
    record.answers.record("GET", "http://testserver/a", b'{"password": "********"}')
    gone = PG_URL.rsplit("/", 1)[0] + f"/dalgo_scan_gone_{uuid.uuid4().hex[:10]}"
    assert scan_session(record, [gone], tmp_path, [unregistered_secret()]) == [], (
        "a dropped database is skipped"
    )


def test_the_registry_refuses_short_secrets_and_takes_a_key_line_by_line() -> None:
    with pytest.raises(ValueError, match="at least"):
        register_secret("x" * (MIN_LENGTH - 1))
    body = [uuid.uuid4().hex * 2 for _ in range(3)]
    pem = "\n".join(["-----BEGIN PRIVATE KEY-----", *body, "-----END PRIVATE KEY-----", ""])
    register_private_key(pem)
    assert set(body) <= known_secrets()
    assert "-----BEGIN PRIVATE KEY-----" not in known_secrets()


LEAKING_TEST = """
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.secrets_registry import new_secret


def test_an_answer_carries_a_registered_secret() -> None:
    secret = new_secret("planted")
    app = FastAPI()

    @app.get("/leak")
    def leak() -> dict[str, str]:
        return {"token": secret}

    assert TestClient(app).get("/leak").status_code == 200
"""


def test_a_session_that_leaks_a_registered_secret_fails(tmp_path: Path) -> None:
    """A whole pytest session, with the suite's fixtures, whose one test passes but leaks: the
    session fails at its end and says where the secret was."""
    (tmp_path / "test_leak.py").write_text(LEAKING_TEST)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            f"--rootdir={REPO}",
            f"--basetemp={tmp_path / 'inner'}",
            "-q",
            str(tmp_path / "test_leak.py"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(r"1 passed, .*1 error", output), output
    assert "1 known test secret(s) leaked" in output, output
    assert "the answer to GET http://testserver/leak: a secret (plan…" in output, output
