"""The batch files a sync writes while it reads: JSON lines, uncompressed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import orjson
from airbyte._writers.jsonl import JsonlWriter
from airbyte.records import StreamRecord


def _isoformat(value: Any) -> str:
    """How `json.dumps` writes what it cannot (dates and times) in the rare deep-record fallback."""
    return str(value.isoformat())


class PlainJsonlWriter(JsonlWriter):
    """PyAirbyte's JSON-lines batch writer without gzip: a batch lives only while its sync runs, in
    the sync's private folder, so compressing it (gzip at level 9 cost more CPU than the rest of
    the record path) buys nothing. Records are written as orjson's bytes, one per line."""

    default_cache_file_suffix = ".jsonl"

    def _open_new_file(self, file_path: Path) -> IO[str]:
        """A new batch file, opened for writing bytes (records are written as bytes)."""
        handle: IO[Any] = file_path.open("wb", buffering=1 << 20)
        return handle

    def _write_record_dict(self, record_dict: StreamRecord, open_file_writer: IO[Any]) -> None:
        """One record as a line of JSON; records too deeply nested for orjson go through `json`."""
        try:
            line = orjson.dumps(record_dict, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            line = (json.dumps(record_dict, default=_isoformat) + "\n").encode()
        open_file_writer.write(line)
