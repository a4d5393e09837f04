"""The embedded DuckDB warehouse: one file on this machine, reached with duckdb-engine and dbt-duckdb.

A DuckDB file admits one writing process at a time: while a dbt run or a sync writes to it, another
process's connection fails with DuckDB's lock message, which the check reports as such.

The file is written by tenant code (dbt models, syncs) and read by the platform's own processes (the
API's table list and preview, the warehouse check), which hold the platform's environment and can
reach every org's folder. So the platform opens it only in a way tenant content cannot turn against it:

- read-only, with DuckDB's external access off and the configuration locked (`SAFE_CONFIG`): a view
  such as `select * from read_text('/proc/self/environ')` fails instead of reading the process's
  files, and no query can switch access back on, attach another file or load an extension;
- never through a symbolic link: the sandboxed tenant code may write the org's folder, and a link
  planted there (or committed to a dbt repository) could name another org's file. The file and its
  WAL must be regular files and the folder's real path must be the stored one, checked before the
  file is opened and again once it is open (the same file, not a swapped one);
- created by the platform without following links (`O_CREAT | O_EXCL | O_NOFOLLOW`), as a copy of a
  fresh database made in a private temporary folder, so even the check never opens it for writing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import duckdb
from sqlalchemy import URL, Connection, Engine, create_engine, text
from sqlalchemy.engine import Inspector
from sqlalchemy.pool import NullPool

from dalgo.blocks.warehouses.base import DBT_THREADS, CheckResult, WarehouseBackend

SAFE_CONFIG: dict[str, Any] = {"enable_external_access": False, "lock_configuration": True}
"""DuckDB settings of every connection the platform opens outside the sandbox: no file but the
database's own, no network, no extension, and no query can change that."""

DUCKDB_SUFFIX = ".duckdb"
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}\.duckdb$")


class UnsafeDuckDBPathError(ValueError):
    """The DuckDB file's path cannot be opened safely (a link, a folder, another place); the message
    is a sentence for people."""


def is_plain_file_name(name: str) -> bool:
    """Whether `name` is a DuckDB file name without any folder: letters, digits, `_`, `.`, `-`."""
    return bool(_FILE_NAME.match(name)) and PurePosixPath(name).name == name and ".." not in name


def place_in_folder(folder: Path, name: str) -> Path:
    """The absolute, resolved path of the DuckDB file `name` directly inside the org's `folder`.

    Raises UnsafeDuckDBPathError when the name has a folder in it, when the folder is a symbolic link,
    or when the file's place is a link, a folder or anything but a regular file.
    """
    if not is_plain_file_name(name):
        raise UnsafeDuckDBPathError(
            f"The DuckDB path is a file name inside the organization's own folder, like warehouse.duckdb, "
            f"not {name!r}."
        )
    if folder.is_symlink():
        raise UnsafeDuckDBPathError(
            "The organization's folder is a symbolic link: the platform does not follow it."
        )
    own = folder.resolve(strict=True)
    path = own / name
    if path.is_symlink():
        raise UnsafeDuckDBPathError(
            f"{name} in the organization's folder is a symbolic link: the platform does not follow links."
        )
    if path.exists() and not path.is_file():
        raise UnsafeDuckDBPathError(f"{name} in the organization's folder is not a regular file.")
    if path.resolve().parent != own:
        raise UnsafeDuckDBPathError(f"{name} resolves outside the organization's folder.")
    return path


@dataclasses.dataclass(frozen=True, kw_only=True)
class DuckDBBackend(WarehouseBackend):
    """A DuckDB file at an absolute `path`; the org's data lives in `schema_name`."""

    label: ClassVar[str] = "DuckDB"
    system_schemas: ClassVar[frozenset[str]] = frozenset({"information_schema", "pg_catalog"})

    path: str
    schema_name: str = "main"

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[str]:
        """Besides the required fields, the path must be absolute."""
        problems = super().problems(values)
        path = values.get("path")
        if isinstance(path, str) and path and not Path(path).is_absolute():
            problems.append(f"the DuckDB path must be absolute, not {path!r}")
        return problems

    def unsafe_reason(self) -> str | None:
        """Why the file cannot be opened safely now (a symbolic link on its way, its WAL a link, not
        a regular file), or None; a missing file is not unsafe."""
        path = self.path
        if os.path.normpath(path) != path or not Path(path).is_absolute():
            return f"the DuckDB path {path} is not a plain absolute path"
        folder = str(Path(path).parent)
        if os.path.realpath(folder) != folder:
            return (
                f"the folder of the DuckDB file {path} goes through a symbolic link: "
                "the platform does not follow links (save the warehouse again to choose its place)"
            )
        for candidate in (path, path + ".wal"):
            try:
                found = os.lstat(candidate)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(found.st_mode):
                return f"{candidate} is a symbolic link: the platform does not follow links to other files"
            if stat.S_ISDIR(found.st_mode):
                return f"{candidate} is a folder, not a DuckDB file"
            if not stat.S_ISREG(found.st_mode):
                return f"{candidate} is not a regular file"
        return None

    def safe_file(self) -> tuple[int, int]:
        """The (device, inode) of the existing, safe file; raises UnsafeDuckDBPathError otherwise."""
        reason = self.unsafe_reason()
        if reason is not None:
            raise UnsafeDuckDBPathError(reason)
        try:
            found = os.lstat(self.path)
        except FileNotFoundError:
            raise UnsafeDuckDBPathError(
                f"the DuckDB file {self.path} does not exist yet: check the warehouse to create it"
            ) from None
        return found.st_dev, found.st_ino

    def engine(self) -> Engine:
        """A read-only engine with external access off and the configuration locked, without a pool
        so the file is released as soon as a connection closes. Raises UnsafeDuckDBPathError for a
        path that cannot be opened safely; `connect` checks the file again around the open."""
        reason = self.unsafe_reason()
        if reason is not None:
            raise UnsafeDuckDBPathError(reason)
        return create_engine(
            URL.create("duckdb", database=self.path),
            poolclass=NullPool,
            connect_args={"read_only": True, "config": dict(SAFE_CONFIG)},
        )

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only connection to the file, checked to be a regular file reached without links
        before it is opened, and to be the same file once it is open."""
        before = self.safe_file()
        engine = self.engine()
        try:
            with engine.connect() as connection:
                if self.safe_file() != before:
                    raise UnsafeDuckDBPathError(
                        f"the DuckDB file {self.path} was replaced while it was being opened"
                    )
                yield connection
        finally:
            engine.dispose()

    def dbt_target(self, schema: str | None = None, threads: int = DBT_THREADS) -> dict[str, Any]:
        """The dbt-duckdb output."""
        return {
            "type": "duckdb",
            "path": self.path,
            "schema": schema or self.schema_name,
            "threads": threads,
        }

    def create_file(self) -> None:
        """Create the missing file as an empty DuckDB database without following any link: a fresh
        database is made in a private temporary folder and copied into a file opened with
        `O_CREAT | O_EXCL | O_NOFOLLOW`. Raises FileExistsError when something has that name."""
        with tempfile.TemporaryDirectory(prefix="dalgo-duckdb-") as scratch:
            fresh = Path(scratch) / "new.duckdb"
            duckdb.connect(str(fresh), config=dict(SAFE_CONFIG)).close()
            content = fresh.read_bytes()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(self.path, flags, 0o666)
        with os.fdopen(descriptor, "wb") as out:
            out.write(content)

    def check(self) -> CheckResult:
        """Make the parent folder if needed, create the file when missing (never through a link),
        then open it read-only and run a trivial query."""
        folder = Path(self.path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            return CheckResult(ok=False, message=f"cannot create the folder {folder}: a file has that name")
        except OSError as exc:
            return CheckResult(ok=False, message=f"cannot create the folder {folder}: {exc.strerror or exc}")
        reason = self.unsafe_reason()
        if reason is not None:
            return CheckResult(ok=False, message=reason)
        if not os.path.lexists(self.path):
            try:
                self.create_file()
            except FileExistsError:
                pass  # made meanwhile: the checks of `connect` decide whether it can be opened
            except OSError as exc:
                return CheckResult(ok=False, message=f"cannot create {self.path}: {exc.strerror or exc}")
        return super().check()

    def humanize(self, reason: str) -> str:
        """DuckDB's lock conflict and refused file access as sentences; other messages without the
        `IO Error:` prefix."""
        if "Could not set lock on file" in reason:
            holder = re.search(r"\(PID (\d+)\)", reason)
            by = f" (process {holder.group(1)})" if holder else ""
            return (
                f"the DuckDB file {self.path} is in use by another process{by}: "
                "only one process at a time can open it for writing"
            )
        if "disabled by configuration" in reason:
            return (
                "this table reads files, extensions or other databases outside the warehouse, "
                "which the platform does not allow"
            )
        return reason.removeprefix("IO Error: ")

    def schema_names(self, connection: Connection, inspector: Inspector) -> list[str]:
        """The schemas of the file's own database (not DuckDB's `system` and `temp` databases)."""
        rows = connection.execute(
            text("SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()")
        )
        return [name for (name,) in rows if not self.is_system_schema(name)]

    def is_system_schema(self, schema: str) -> bool:
        """information_schema, pg_catalog and every `pg_` schema."""
        return super().is_system_schema(schema) or schema.lower().startswith("pg_")
