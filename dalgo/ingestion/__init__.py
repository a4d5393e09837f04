"""Ingestion through an Airbyte server: its API client, the org objects in its workspace."""
