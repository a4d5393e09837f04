"""Loading tables: where a stream's batches are loaded before one statement (or one transaction)
moves them into the stream's final table.

A sync whose process dies (a worker killed, a machine gone) while it loads leaves its loading
table behind: the final table is untouched, since its change had not been committed, but the
loading table would stay in the tenant's schema, a copy of part of the data, for good. So loading
tables are named `_dalgo_loading_<batch>_<stream>`, and before a stream loads, the loading tables
of that stream that earlier syncs left behind are dropped. A sync holds its connection's lock, so
no other sync of the same connection is loading then; two connections writing the same stream
into the same schema would overwrite each other's final table anyway.
"""

from __future__ import annotations

from airbyte.shared.sql_processor import SqlProcessorBase
from sqlalchemy import text

LOADING_PREFIX = "_dalgo_loading_"
BATCH_CHARS = 9
_TABLES = text(
    "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
    "AND lower(table_schema) = lower(:schema) AND substr(table_name, 1, :length) = :prefix"
)


class LoadingTables(SqlProcessorBase):
    """Loading tables named after their batch and stream, and those left behind dropped."""

    def _loading_table_name(self, stream_name: str, batch: str) -> str:
        return self.normalizer.normalize(f"{LOADING_PREFIX}{batch}_{stream_name}")

    def _new_loading_table(self, stream_name: str, batch_id: str) -> str:
        """Drop the stream's loading tables that earlier syncs left behind, then create a new one
        with the stream's columns, `_dalgo_loading_<batch>_<stream>` (the batch as PyAirbyte
        shortens its ULID, first six and last three characters); its name."""
        self._drop_left_loading_tables(stream_name)
        short = f"{batch_id[:6]}{batch_id[-3:]}" if len(batch_id) > BATCH_CHARS else batch_id
        name = self._loading_table_name(stream_name, short.rjust(BATCH_CHARS, "0"))
        columns = ",\n  ".join(
            f"{self._quote_identifier(column)} {sql_type}"
            for column, sql_type in self._get_sql_column_definitions(stream_name).items()
        )
        self._create_table(name, columns)
        return name

    def _left_loading_tables(self, stream_name: str) -> list[str]:
        """The loading tables of the stream in the schema: any there before it loads were left
        by a sync that died."""
        model = self._loading_table_name(stream_name, "0" * BATCH_CHARS)
        tail = model[len(LOADING_PREFIX) + BATCH_CHARS :]
        schema = self.sql_config.schema_name
        where = {"schema": schema, "length": len(LOADING_PREFIX), "prefix": LOADING_PREFIX}
        with self.get_sql_connection() as connection:
            names = connection.execute(_TABLES, where).all()
        return sorted(
            str(name)
            for (name,) in names
            if len(str(name)) == len(model) and str(name)[len(LOADING_PREFIX) + BATCH_CHARS :] == tail
        )

    def _drop_left_loading_tables(self, stream_name: str) -> None:
        """Drop the stream's loading tables that earlier syncs left behind."""
        for name in self._left_loading_tables(stream_name):
            self._drop_temp_table(name, if_exists=True)
