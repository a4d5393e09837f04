"""The web API (FastAPI): identity, tenancy and the org-scoped routes."""
