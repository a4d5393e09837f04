"""The Postgres writer: PyAirbyte's Postgres cache, loading each stream's batch files with `COPY`.

A stream's batch files (JSON lines) are copied as they are into a temporary one-column `json`
table, and one `INSERT … SELECT` (through `json_to_record`) types every value in the server into
PyAirbyte's loading table, all in one transaction; nested JSON and text keep the connector's own
text (pandas turned a text field "1.50" into 1.5). PyAirbyte then merges that table into the
stream's table as before (by primary key, or appends or replaces it), so a sync that fails before
a stream ends leaves that stream's table as it was. PyAirbyte itself read every file with pandas
and sent the rows as SQLAlchemy `INSERT`s, which bounded a sync's speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy
from airbyte._processors.sql.postgres import PostgresSqlProcessor
from airbyte._util.name_normalizers import LowerCaseNormalizer
from airbyte.caches import PostgresCache
from airbyte.constants import AB_INTERNAL_COLUMNS
from airbyte.shared.sql_processor import SqlProcessorBase

from dalgo.ingestion.writers.files import PlainJsonlWriter
from dalgo.ingestion.writers.loading import LoadingTables
from dalgo.ingestion.writers.sql import QuickTableChecks

LINES_TABLE = "dalgo_batch_lines"
COPY_LINES = f"COPY {LINES_TABLE} (doc) FROM STDIN WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
"""One JSON line per row, whole. JSON text never holds a raw control character (they are escaped
inside strings), so CSV with \\x02 as its delimiter and \\x01 as its quote takes every line as it
is, backslashes included, where COPY's text format would read them as escapes."""
COPY_CHUNK_BYTES = 1 << 20


def field_type(sql_type: sqlalchemy.types.TypeEngine[Any], type_sql: str) -> str:
    """The type a batch line's field is read as (by `json_to_record`): JSON and arrays as JSON,
    integers as numeric (so a `1.0` is taken, as PyAirbyte's pandas load took it), anything else
    as the column's own type, from the field's text."""
    if isinstance(sql_type, sqlalchemy.types.JSON | sqlalchemy.types.ARRAY):
        return "json"
    if isinstance(sql_type, sqlalchemy.types.Integer):
        return "numeric"
    return type_sql


def value_expression(field: str, sql_type: sqlalchemy.types.TypeEngine[Any], type_sql: str) -> str:
    """The SQL giving a column's value from the field `field` as `field_type` read it: nested JSON
    keeps the connector's own text, arrays are built element by element, integers rounded."""
    if isinstance(sql_type, sqlalchemy.types.ARRAY):
        return (
            f"CASE WHEN json_typeof({field}) = 'array' THEN "
            f"ARRAY(SELECT json_array_elements_text({field}))::{type_sql} END"
        )
    if isinstance(sql_type, sqlalchemy.types.Integer):
        return f"{field}::{type_sql}"
    return field


class CopyPostgresSqlProcessor(LoadingTables, QuickTableChecks, PostgresSqlProcessor):
    """PyAirbyte's Postgres processor with batches loaded by `COPY`, tables checked through
    `information_schema`, the primary-key merge written as SQL, and loading tables that a sync
    which died left behind dropped (`loading.LoadingTables`)."""

    file_writer_class = PlainJsonlWriter

    def _column_keys(self, stream_name: str) -> dict[str, str]:
        """Each column of the stream's tables and the key its value has in a batch line (lines
        carry PyAirbyte's lower-case names; Postgres columns are those cut to 63 characters)."""
        keys: dict[str, str] = {}
        for name in self.catalog_provider.get_stream_properties(stream_name):
            keys[self.normalizer.normalize(name)] = LowerCaseNormalizer.normalize(name)
        for internal in sorted(AB_INTERNAL_COLUMNS):
            keys[internal] = internal
        return keys

    def _write_files_to_new_table(self, files: list[Path], stream_name: str, batch_id: str) -> str:
        """Load the stream's batch files into a new loading table, in one transaction (after
        dropping the stream's loading tables that a sync which died left behind)."""
        temp_table_name = self._new_loading_table(stream_name, batch_id)
        definitions = self._get_sql_column_definitions(stream_name)
        keys = self._column_keys(stream_name)
        engine = self.get_sql_engine()
        quote = self._quote_identifier
        columns = [column for column in definitions if column in keys]
        types = {column: definitions[column].compile(dialect=engine.dialect) for column in columns}
        fields = {keys[column]: field_type(definitions[column], types[column]) for column in columns}
        record = ", ".join(f"{quote(key)} {sql}" for key, sql in fields.items())
        values = ", ".join(
            value_expression(f"r.{quote(keys[column])}", definitions[column], types[column])
            for column in columns
        )
        targets = ", ".join(quote(column) for column in columns)
        # Names here are PyAirbyte's normalized ones (letters, digits, underscores), quoted.
        insert = (
            f"INSERT INTO {self._fully_qualified(temp_table_name)} ({targets}) "  # noqa: S608
            f"SELECT {values} FROM {LINES_TABLE} AS lines, json_to_record(lines.doc) AS r({record})"
        )
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(f"CREATE TEMPORARY TABLE {LINES_TABLE} (doc json) ON COMMIT DROP")
            for path in files:
                with path.open("rb") as handle:
                    cursor.copy_expert(COPY_LINES, handle, size=COPY_CHUNK_BYTES)
            cursor.execute(insert)
            cursor.close()
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()
        return temp_table_name

    def _emulated_merge_temp_table_to_final_table(
        self, stream_name: str, temp_table_name: str, final_table_name: str
    ) -> None:
        """PyAirbyte's merge for databases without `MERGE`, in one transaction: update the rows
        whose primary key is in the loading table, then insert the ones that are not."""
        primary = self.catalog_provider.get_primary_keys(stream_name)
        keys = [self._quote_identifier(self.normalizer.normalize(key)) for key in primary]
        columns = [self._quote_identifier(column) for column in self._get_sql_column_definitions(stream_name)]
        final, temp = self._fully_qualified(final_table_name), self._fully_qualified(temp_table_name)
        matches = " AND ".join(f"final.{key} = tmp.{key}" for key in keys)
        updates = ", ".join(f"{column} = tmp.{column}" for column in columns if column not in keys)
        names = ", ".join(columns)
        picked = ", ".join(f"tmp.{column}" for column in columns)
        # Names here are PyAirbyte's normalized ones (letters, digits, underscores), quoted.
        update = f"UPDATE {final} AS final SET {updates} FROM {temp} AS tmp WHERE {matches}"  # noqa: S608
        insert = (
            f"INSERT INTO {final} ({names}) SELECT {picked} FROM {temp} AS tmp "  # noqa: S608
            f"LEFT JOIN {final} AS final ON {matches} WHERE final.{keys[0]} IS NULL"
        )
        with self.get_sql_connection() as connection:
            connection.execute(sqlalchemy.text(update))
            connection.execute(sqlalchemy.text(insert))


class CopyPostgresCache(PostgresCache):
    """PyAirbyte's Postgres cache writing through `CopyPostgresSqlProcessor`."""

    _sql_processor_class: ClassVar[type[SqlProcessorBase]] = CopyPostgresSqlProcessor
