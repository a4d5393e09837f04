"""The platform's maintenance flows, one module per job, each a scheduled deployment declared in
prefect.yaml (applied by `dalgo deploy` and at `dalgo serve`) that can also be run by hand from
the Prefect UI. Each is idempotent and logs what it did in numbers.

Every job that walks the orgs takes `only_orgs`: leave it empty for all orgs, or name some slugs
to run it for those alone (by hand, for one org).
"""
