"""Turns API objects into Prefect deployments and one-off flow runs."""
