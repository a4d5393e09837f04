"""Table checks through `information_schema`, shared by the Postgres and DuckDB writers."""

from __future__ import annotations

from airbyte.shared.sql_processor import SqlProcessorBase
from sqlalchemy import text

_TABLE_EXISTS = text(
    "SELECT 1 FROM information_schema.tables WHERE table_catalog = current_database() "
    "AND lower(table_schema) = lower(:schema) AND table_name = :table"
)
_COLUMNS = text(
    "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
    "AND lower(table_schema) = lower(:schema) AND table_name = :table"
)


class QuickTableChecks(SqlProcessorBase):
    """Whether a table exists and which columns it has, asked of `information_schema` in one query
    each. PyAirbyte reflects the whole schema's table list, and whole tables (columns, keys,
    indexes, constraints) through SQLAlchemy, for every stream it finalizes."""

    def _table_exists(self, table_name: str) -> bool:
        """Whether the table exists in the cache's schema."""
        with self.get_sql_connection() as connection:
            found = connection.execute(
                _TABLE_EXISTS, {"schema": self.sql_config.schema_name, "table": table_name}
            ).first()
        return found is not None

    def _column_names(self, table_name: str) -> set[str]:
        """The names of the table's columns."""
        with self.get_sql_connection() as connection:
            rows = connection.execute(
                _COLUMNS, {"schema": self.sql_config.schema_name, "table": table_name}
            ).all()
        return {str(row[0]) for row in rows}

    def _ensure_compatible_table_schema(self, stream_name: str, table_name: str) -> None:
        """Add the stream's columns the table lacks (as PyAirbyte does, with its own statement)."""
        existing = self._column_names(table_name)
        added = False
        for column, sql_type in self._get_sql_column_definitions(stream_name).items():
            if column not in existing:
                table = self._get_table_by_name(table_name, shallow_okay=True)
                self._add_column_to_table(table, column, sql_type)
                added = True
        if added:
            self._invalidate_table_cache(table_name)
