"""The org's Prefect block types: warehouse, ingestion engine, connection, dbt workspace."""
