"""Turns API objects into Prefect objects: deployments, one-off flow runs, and reads of runs and logs.

Everything made here for an org carries the tag `org:<slug>` and a name that starts with the slug.
"""
