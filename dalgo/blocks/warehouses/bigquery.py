"""A BigQuery warehouse, reached with a service-account key through google-cloud-bigquery,
sqlalchemy-bigquery (the platform) and dbt-bigquery (transforms).

The Google libraries take seconds to import, so they are imported inside the functions that use them.
A key is always required: without one, Google's libraries would fall back to the platform's own
credentials, which no org may borrow.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import URL, Connection, Engine, create_engine

from dalgo.blocks.warehouses.base import DBT_THREADS, CheckResult, TableRef, WarehouseBackend

if TYPE_CHECKING:
    from google.auth.transport.requests import Request
    from google.cloud.bigquery import Client
    from google.oauth2.service_account import Credentials

SCOPES = ("https://www.googleapis.com/auth/bigquery", "https://www.googleapis.com/auth/cloud-platform")
CHECK_TIMEOUT_S = 20.0
KEY_FIELDS = ("client_email", "private_key", "token_uri")
_GOOGLE_TOKEN_HOSTS = ("oauth2.googleapis.com", "accounts.google.com")
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_LISTABLE_TABLE_TYPES = frozenset({"TABLE"})
_MIN_SECRET_LINE = 16

T = TypeVar("T")


class CredentialsError(ValueError):
    """The BigQuery credentials are not a usable service-account key; the message says why."""


def service_account_info(credentials_json: str) -> dict[str, Any]:
    """The service-account key as a dict, after checking it looks like one.

    Raises CredentialsError when it is not JSON, not a service-account key, lacks a field Google
    needs, or names a token address outside Google.
    """
    try:
        info = json.loads(credentials_json)
    except ValueError:
        raise CredentialsError(
            "the BigQuery credentials are not JSON: give the whole service-account key file"
        ) from None
    if not isinstance(info, dict):
        raise CredentialsError(
            "the BigQuery credentials are not a service-account key (a JSON object with "
            '"type": "service_account")'
        )
    if info.get("type") != "service_account":
        kind = json.dumps(info.get("type"))
        raise CredentialsError(
            f'the BigQuery credentials are not a service-account key (its "type" is {kind}, '
            'not "service_account")'
        )
    missing = [name for name in KEY_FIELDS if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        raise CredentialsError(f"the service-account key has no {', '.join(missing)}")
    token_uri = urlsplit(info["token_uri"])
    host = token_uri.hostname or ""
    if token_uri.scheme != "https" or not (host in _GOOGLE_TOKEN_HOSTS or host.endswith(".googleapis.com")):
        raise CredentialsError(
            "the service-account key's token_uri is not a Google address (https://oauth2.googleapis.com/token)"
        )
    return info


def run_by(deadline: float, work: Callable[[], T]) -> T:
    """The result of `work()`, run on a daemon thread; TimeoutError when it has not ended by
    `deadline` (a monotonic time). Nothing here waits longer, not even for a name lookup that hangs;
    the thread is left to end on its own."""
    outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            outcome.put((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
            outcome.put((False, exc))

    threading.Thread(target=run, name="dalgo-bigquery-check", daemon=True).start()
    try:
        done, value = outcome.get(timeout=max(deadline - time.monotonic(), 0.0))
    except queue.Empty:
        raise TimeoutError(f"no answer within {CHECK_TIMEOUT_S:g} seconds") from None
    if done:
        result: T = value
        return result
    raise value


def bounded_request(deadline: float) -> Request:
    """An HTTP transport for google-auth whose every call times out by `deadline` (a monotonic time)."""
    from google.auth.exceptions import TransportError
    from google.auth.transport.requests import Request

    class BoundedRequest(Request):
        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: Any = None,
            headers: Any = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> Any:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"no answer within {CHECK_TIMEOUT_S:g} seconds")  # type: ignore[no-untyped-call]
            bound = remaining if timeout is None else min(timeout, remaining)
            return super().__call__(  # type: ignore[no-untyped-call]
                url, method=method, body=body, headers=headers, timeout=bound, **kwargs
            )

    return BoundedRequest()


def _token_failure(exc: Exception, token_uri: str) -> str:
    """Why google-auth got no token, in a line: the network's reason, or Google's answer."""
    from google.auth.exceptions import RefreshError

    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    if isinstance(exc, RefreshError):
        return f"Google refused the service-account key ({first})"
    errno = _ERRNO_REASON.search(str(exc))
    reason = errno.group(1).strip() if errno else first.splitlines()[0] if first else type(exc).__name__
    host = urlsplit(token_uri).hostname
    return f"could not reach Google's token service at {host} to sign in with the key: {reason}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BigQueryBackend(WarehouseBackend):
    """A BigQuery project; the org's data lives in `dataset` (dbt may write to other datasets)."""

    label: ClassVar[str] = "BigQuery"
    system_schemas: ClassVar[frozenset[str]] = frozenset({"information_schema"})

    project: str
    dataset: str
    location: str = "US"
    credentials_json: SecretStr

    def key_info(self) -> dict[str, Any]:
        """The service-account key; raises CredentialsError when it is not one."""
        return service_account_info(self.credentials_json.get_secret_value())

    def credentials(self) -> Credentials:
        """Google credentials from the key; raises CredentialsError when its private key is unusable."""
        from google.oauth2 import service_account

        info = self.key_info()
        try:
            credentials: Credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=SCOPES
            )
        except Exception as exc:
            raise CredentialsError(
                "the service-account key's private_key is not a valid PEM private key"
            ) from exc
        return credentials

    def client(self) -> Client:
        """A BigQuery API client for the project, with the key's credentials."""
        from google.cloud import bigquery

        return bigquery.Client(project=self.project, credentials=self.credentials(), location=self.location)

    def secret_values(self) -> list[str]:
        """The whole key, and its private key line by line (as it could surface in a message)."""
        secrets = super().secret_values()
        try:
            info = json.loads(self.credentials_json.get_secret_value())
        except ValueError:
            return secrets
        if isinstance(info, dict):
            for name in ("private_key", "private_key_id"):
                value = info.get(name)
                if isinstance(value, str):
                    secrets.append(value)
                    secrets.extend(line for line in value.splitlines() if len(line) >= _MIN_SECRET_LINE)
        return secrets

    def engine(self) -> Engine:
        """A sqlalchemy-bigquery engine on the project, with `dataset` as the default dataset."""
        return create_engine(
            URL.create("bigquery", host=self.project, database=self.dataset),
            credentials_info=self.key_info(),
            location=self.location,
        )

    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt-bigquery output, signing in with the key itself (`service-account-json`)."""
        return {
            "type": "bigquery",
            "method": "service-account-json",
            "project": self.project,
            "dataset": schema or self.dataset,
            "location": self.location,
            "threads": threads,
            "keyfile_json": self.key_info(),
        }

    def check(self) -> CheckResult:
        """Check the key, get a token with it and run `SELECT 1`, all within CHECK_TIMEOUT_S."""
        deadline = time.monotonic() + CHECK_TIMEOUT_S
        try:
            info = self.key_info()
            credentials = self.credentials()
        except CredentialsError as exc:
            return CheckResult(ok=False, message=str(exc))
        request = bounded_request(deadline)
        try:
            run_by(deadline, lambda: credentials.refresh(request))  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            reason = _token_failure(exc, info["token_uri"])
            return CheckResult(ok=False, message=self.error_reason(RuntimeError(reason)))
        finally:
            request.session.close()
        try:
            run_by(deadline, lambda: self._select_one(credentials, deadline))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            return CheckResult(ok=False, message=self.error_reason(exc))
        return CheckResult(ok=True, message=f"Connected to BigQuery project {self.project}.")

    def _select_one(self, credentials: Credentials, deadline: float) -> None:
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_RETRY

        remaining = max(deadline - time.monotonic(), 1.0)
        with bigquery.Client(project=self.project, credentials=credentials, location=self.location) as client:
            client.query_and_wait(
                "SELECT 1",
                api_timeout=remaining,
                wait_timeout=remaining,
                retry=DEFAULT_RETRY.with_timeout(remaining),
                job_retry=None,
            )

    def fetch_rows(
        self, connection: Connection, ref: TableRef, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A table's first rows through the free `tabledata.list` API (a `SELECT ... LIMIT` query is
        billed for a scan of the whole table); views, which that API cannot read, through SQL."""
        from google.cloud.bigquery import DatasetReference, TableReference

        with self.client() as client:
            table = client.get_table(TableReference(DatasetReference(self.project, ref.schema), ref.table))
            if table.table_type not in _LISTABLE_TABLE_TYPES:
                return super().fetch_rows(connection, ref, limit)
            columns = [field.name for field in table.schema]
            if limit == 0:
                return columns, []
            return columns, [tuple(row.values()) for row in client.list_rows(table, max_results=limit)]
