"""The DuckDB writer: PyAirbyte's DuckDB cache with plain JSON-lines batches (DuckDB loads them
with `read_json`, as PyAirbyte does) and table checks through `information_schema`."""

from __future__ import annotations

from typing import ClassVar

from airbyte._processors.sql.duckdb import DuckDBSqlProcessor
from airbyte.caches import DuckDBCache
from airbyte.shared.sql_processor import SqlProcessorBase

from dalgo.ingestion.writers.files import PlainJsonlWriter
from dalgo.ingestion.writers.sql import QuickTableChecks


class QuickDuckDBSqlProcessor(QuickTableChecks, DuckDBSqlProcessor):
    """PyAirbyte's DuckDB processor with uncompressed batches and quick table checks."""

    file_writer_class = PlainJsonlWriter


class QuickDuckDBCache(DuckDBCache):
    """PyAirbyte's DuckDB cache writing through `QuickDuckDBSqlProcessor`."""

    _sql_processor_class: ClassVar[type[SqlProcessorBase]] = QuickDuckDBSqlProcessor
