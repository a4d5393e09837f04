"""Dalgo's benchmarks (`make bench`): the platform against the same work done directly.

Each scenario starts a local stack of its own (`dalgo.stack.LocalStack`: a Prefect server and the
API on fresh Postgres databases, one process worker), drives it through the web API like any
client, runs the direct counterpart in the same run, alternating the two over several rounds, and
prints one JSON line with the medians. See bench/README.md.
"""
