"""The body of an org's lock list: a locked resource and the run holding it."""

from __future__ import annotations

from dalgo.deployments.lock_holders import Lock


class LockPublic(Lock):
    """A locked resource of the org and the run holding it (null while its lease runs out after the
    run died)."""
