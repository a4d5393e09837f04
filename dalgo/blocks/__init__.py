"""The org's Prefect block types: warehouse, ingestion engine, connection, dbt workspace.

`dalgo.blocks.warehouse.WarehouseBlock` is the org's warehouse; what differs per warehouse type
(PostgreSQL, BigQuery, DuckDB) lives in one backend module each under `dalgo.blocks.warehouses`.
"""
