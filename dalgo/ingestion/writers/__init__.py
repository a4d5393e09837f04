"""The writers an embedded sync loads its records with: PyAirbyte's caches for Postgres and DuckDB
with their slow parts replaced.

PyAirbyte reads the connector, keeps incremental state and the catalog in the warehouse schema
(`_airbyte_state`, `_airbyte_streams`), writes each stream's records to batch files while it reads,
and when a stream ends loads its files into a fresh table and merges that into the stream's table
(by primary key, or appends or replaces). All of that is kept. What changes:

- batch files are plain JSON lines (`files.PlainJsonlWriter`), not gzip at level 9;
- Postgres loads a batch with one `COPY` and one `INSERT … SELECT` that types the values in the
  server (`postgres.CopyPostgresCache`), where PyAirbyte parsed the files with pandas and sent
  them as SQLAlchemy `INSERT`s;
- Postgres names a stream's loading table `_dalgo_loading_<batch>_<stream>`, and drops those a
  sync that died left behind before the stream loads again (`loading.LoadingTables`); the final
  table itself changes in one transaction per stream (one `INSERT … SELECT` to append, `UPDATE`
  and `INSERT` in one transaction to merge, renames in one transaction to replace), so a sync
  killed at any point leaves each final table with its previous rows or its new ones;
- table and column checks ask `information_schema` (`sql.QuickTableChecks`) instead of reflecting
  whole tables through SQLAlchemy for every stream, and Postgres' primary-key merge is the same
  two statements PyAirbyte builds, written as SQL.

Importing this package imports PyAirbyte: import it only after
`dalgo.connectors.source.prepare_airbyte()`, in the sync that needs it.
"""
