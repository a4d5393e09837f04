"""The platform's own catalogue of Airbyte source connectors: each installed from PyPI into its own
virtual environment (once per version), its spec read and cached, and run through PyAirbyte."""
