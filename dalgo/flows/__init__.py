"""The platform's reusable Prefect flows: ingest, transform, pipeline, maintenance."""
