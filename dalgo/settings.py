"""The platform's settings: one class, read from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the platform; environment variables are prefixed `DALGO_` unless noted."""

    model_config = SettingsConfigDict(
        env_prefix="DALGO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(
        default=Path(".dalgo"),
        description="Folder for local state: the SQLite databases, the mail outbox, keys.",
    )
    database_url: str | None = Field(
        default=None,
        description="The API database; SQLite under DALGO_HOME when unset, or a postgresql:// URL.",
    )
    prefect_api_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PREFECT_API_URL", "DALGO_PREFECT_API_URL"),
        description="The Prefect server's API, e.g. http://127.0.0.1:4200/api.",
    )
    prefect_api_auth_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PREFECT_API_AUTH_STRING", "DALGO_PREFECT_API_AUTH_STRING"),
        description=(
            "Prefect's API credential (`user:password`, Prefect's basic auth) every Prefect client of "
            "the platform sends; `dalgo serve` gives it to its children (docs/operations.md)."
        ),
    )
    prefect_ui_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PREFECT_UI_URL", "DALGO_PREFECT_UI_URL"),
        description=(
            "The address operators open the Prefect UI at, when a proxy serves it (e.g. "
            "https://prefect.example.org); the UI of `dalgo serve` then calls its API at <this>/api. "
            "Unset: the address the Prefect server listens on."
        ),
    )
    prefect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Upper bound on any one call from the API to Prefect, its retries included; past it the "
            "route answers 503."
        ),
    )
    database_timeout_s: int = Field(
        default=5,
        ge=2,
        description=(
            "Seconds the API waits for a connection to its database (Postgres) before the route "
            "answers 503; a connection the network stopped acknowledging is dropped after twice that."
        ),
    )
    smtp_url: str | None = Field(
        default=None,
        description=(
            "smtp://user:password@host:port (add ?starttls=true), or smtps://...; "
            "unset: mails are written to DALGO_HOME/outbox/ as .eml files."
        ),
    )
    mail_from: str = Field(default="Dalgo <no-reply@dalgo.local>")
    public_url: str = Field(
        default="http://localhost:8000", description="Base address used for links in mails."
    )
    token_ttl_hours: float = Field(default=24.0, gt=0, description="Lifetime of a login token.")
    invitation_ttl_days: float = Field(default=7.0, gt=0)
    password_reset_ttl_minutes: float = Field(default=60.0, gt=0)
    connectors_dir: Path | None = Field(
        default=None,
        description=(
            "Where connectors are installed, each version in a virtual environment of its own; unset: "
            "DALGO_HOME/connectors. Processes on one machine may share a folder (an install is made "
            "once, under a file lock), and a worker image may bring one with its connectors installed."
        ),
    )
    work_pool: str = Field(default="dalgo", description="The process work pool runs go to.")
    lock_wait_timeout_s: float = Field(
        default=1800.0,
        gt=0,
        description=(
            "How long a scheduled pipeline run waits for a locked connection or dbt workspace "
            "(or for one of its org's run slots) before it fails naming the run that holds it."
        ),
    )
    lock_lease_s: float = Field(
        default=60.0,
        ge=60,
        description=(
            "The lease a run holds a connection's or dbt workspace's lock with, renewed while it runs: "
            "the lock of a run whose process died frees itself this long after its last renewal "
            "(Prefect's least is 60 s)."
        ),
    )
    org_run_limit: int = Field(
        default=2, ge=1, description="How many runs an org may have going at once, unless set for the org."
    )
    command_time_limit_s: int = Field(
        default=7200,
        ge=10,
        le=86400,
        description=(
            "How long one of an org's commands (a connector's spec, check, discover or sync, a dbt "
            "or git command) may run before it is stopped and its run fails, unless set for the org."
        ),
    )
    sync_retry_delay_s: float = Field(
        default=60.0, ge=0, description="Pause before a pipeline's failed sync step is tried again."
    )
    crash_after_silence_s: float = Field(
        default=600.0,
        ge=60,
        description=(
            "A running flow run that sent no heartbeat for this long is marked crashed "
            "(flow runs send one every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds, 180 by default)."
        ),
    )
    long_run_alert_hours: float = Field(
        default=2.0, gt=0, description="Platform admins are alerted about runs running longer than this."
    )
    failure_lookback_hours: float = Field(
        default=24.0, gt=0, description="How far back the failure notifier looks for failed runs."
    )
    mail_retry_minutes: float = Field(
        default=10.0, gt=0, description="An alert mail claimed but not marked sent is retried after this."
    )
    mail_give_up_hours: float = Field(
        default=24.0,
        gt=0,
        description=(
            "An alert mail the mail server could not take (down, or answering 'try later') is tried "
            "again every notifier round until it goes through, for at most this long after the alert."
        ),
    )
    expired_invitation_keep_days: float = Field(
        default=30.0, ge=0, description="Expired invitations stay listed (to be renewed) this long."
    )
    worker_limit: int | None = Field(
        default=None,
        ge=1,
        description=(
            "How many flow runs the stack's process worker runs at once, for all orgs (its --limit); "
            "runs beyond it wait, scheduled, in the work pool. Unset: one per GB of the machine's memory."
        ),
    )
    sandbox: Literal["bwrap", "off"] = Field(
        default="bwrap",
        description=(
            "How tenant code (dbt, connectors, git) runs: `bwrap` (bubblewrap, the default) or `off`, "
            "which runs it unsandboxed and is logged as a warning at every start."
        ),
    )
    allow_private_networks: bool | None = Field(
        default=None,
        description=(
            "Whether addresses a tenant names (warehouse hosts, git and connector URLs) may be loopback "
            "or private ranges. Unset: allowed on the embedded default (no DALGO_DATABASE_URL), refused "
            "otherwise. Link-local, multicast and unspecified addresses are always refused."
        ),
    )
    login_rate_limit_per_address: str = Field(
        default="20/minute",
        description="Login, password reset and invitation accept tries per client address (limits syntax).",
    )
    login_rate_limit_per_email: str = Field(
        default="10/minute",
        description="Login, password reset and invitation accept attempts per email address (limits syntax).",
    )
    max_request_bytes: int = Field(
        default=1_000_000, ge=1024, description="Request bodies larger than this answer 413."
    )
    api_workers: int | None = Field(
        default=None,
        ge=1,
        description=(
            "How many API processes the stack runs (uvicorn --workers). Unset: one per CPU, at most 4, "
            "with the API on Postgres; one with the API on SQLite, where processes would wait on each "
            "other's writes."
        ),
    )
    manual_run_rate_limit: str = Field(
        default="10/minute",
        description="Runs (syncs, dbt commands, pipelines) an org's members may start by hand, per org.",
    )
    audit_retention_days: int = Field(
        default=90,
        ge=1,
        description="Audit entries of no org (failed sign-ins, a deleted org's entries) are kept this long.",
    )

    @property
    def resolved_home(self) -> Path:
        """DALGO_HOME as an absolute path."""
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The API database URL, defaulting to SQLite under DALGO_HOME."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql://" + url.removeprefix("postgres://")
            return url
        return f"sqlite:///{self.resolved_home / 'dalgo.db'}"

    @property
    def private_networks_allowed(self) -> bool:
        """Whether tenants may name loopback and private addresses (see `allow_private_networks`)."""
        if self.allow_private_networks is not None:
            return self.allow_private_networks
        return self.database_url is None

    @property
    def resolved_connectors_dir(self) -> Path:
        """DALGO_CONNECTORS_DIR as an absolute path, or DALGO_HOME/connectors."""
        folder = self.connectors_dir if self.connectors_dir is not None else self.resolved_home / "connectors"
        return folder.expanduser().resolve()

    def org_home(self, org: str) -> Path:
        """The org's folder of local files (an embedded DuckDB warehouse, dbt workspaces)."""
        return self.resolved_home / "orgs" / org

    @property
    def outbox_dir(self) -> Path:
        """Where mails go when no SMTP server is configured."""
        return self.resolved_home / "outbox"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
