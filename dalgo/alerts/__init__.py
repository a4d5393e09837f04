"""Alerts below the API layer: who is told about what (failed runs, long runs, schema changes), the
in-app notifications that record it, and the delivery of their mails exactly once in practice.

The maintenance flows use this package; the API only reads the notifications it wrote.
"""
