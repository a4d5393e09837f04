"""Dalgo: a Prefect-first, multi-tenant data platform."""
