"""The demo from start to end: the stack, the org and its objects, one pipeline run, the summary."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dalgo.demo import accounts, objects
from dalgo.demo.client import Api, DemoError
from dalgo.demo.progress import DemoSteps
from dalgo.demo.repo import prepare_repository
from dalgo.demo.run import (
    SUCCEEDED,
    RunStepTime,
    TableRows,
    error_lines,
    follow_run,
    run_step_times,
    start_run,
    table_rows,
)
from dalgo.settings import Settings
from dalgo.stack import (
    LocalStack,
    StackAddresses,
    StartupError,
    StopRequestedError,
    report_startup_error,
    stop_on_signals,
    supervise,
)

console = Console(highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Outcome:
    """What the demo produced, for the summary."""

    run_id: str
    state: str
    steps: list[RunStepTime]
    tables: list[TableRows]
    user: accounts.Login
    addresses: StackAddresses


def run_demo(
    settings: Settings,
    api_port: int = 8000,
    prefect_port: int = 4200,
    serve: bool = False,
    run_timeout_s: float = 1800.0,
) -> int:
    """Run the demo; 0 when the pipeline run succeeded (and, with `serve`, after Ctrl-C)."""
    stop = threading.Event()
    # The demo's addresses are at example.org: its mails (the invitation, a password reset) stay in
    # DALGO_HOME/outbox, where it reads their codes, whatever DALGO_SMTP_URL says.
    settings = settings.model_copy(update={"smtp_url": ""})
    steps = DemoSteps(console)
    stack = LocalStack(settings, api_port, prefect_port, stop_event=stop, say=steps.note)
    with stop_on_signals(stop):
        try:
            with steps.step("Starting the local stack"):
                addresses = stack.start()
            outcome = _build_and_run(settings, addresses, steps, stop, run_timeout_s)
            print_summary(outcome, settings, steps.elapsed())
            if serve:
                console.print("Serving until Ctrl-C.", markup=False)
                return supervise(stack)
            return 0 if outcome.state in SUCCEEDED else 1
        except StopRequestedError:
            console.print("Interrupted.")
            return 0 if serve else 130
        except StartupError as error:
            report_startup_error(error)
            return 1
        except DemoError as error:
            console.print(f"[red]The demo stopped: {escape(str(error))}[/red]")
            console.print(f"The logs of the stack are in {stack.logs}/", markup=False)
            return 1
        finally:
            with steps.step("Stopping the local stack"):
                stack.stop()


def _build_and_run(
    settings: Settings, addresses: StackAddresses, steps: DemoSteps, stop: threading.Event, timeout_s: float
) -> Outcome:
    logins = accounts.read_logins(settings)
    admin_login = logins.get("admin") or accounts.Login(accounts.ADMIN_EMAIL, accounts.new_password())
    user_login = logins.get("user") or accounts.Login(accounts.USER_EMAIL, accounts.new_password())
    accounts.save_logins(settings, {"admin": admin_login, "user": user_login})
    admin, user = Api(addresses.api_base, stop), Api(addresses.api_base, stop)
    try:
        with steps.step("Platform admin " + admin_login.email) as view:
            view.note = accounts.ensure_platform_admin(settings, admin_login)
            if not admin.login(admin_login.email, admin_login.password):
                raise DemoError(f"{admin_login.email} cannot sign in.")
        with steps.step(f"Org '{objects.ORG_SLUG}'") as view:
            view.note = objects.ensure_org(admin)
        with steps.step(f"Demo user {user_login.email} ({accounts.USER_ROLE})") as view:
            view.note = accounts.ensure_demo_user(
                admin, user, objects.ORG_SLUG, user_login, settings.outbox_dir
            )
        with steps.step("Warehouse") as view:
            view.note = objects.ensure_warehouse(user)
        with steps.step("Installing the source-faker connector (first time only)"):
            objects.install_connector(user)
        with steps.step(f"Source '{objects.SOURCE_NAME}'") as view:
            source_id, view.note = objects.ensure_source(user)
        with steps.step(f"Connection '{objects.CONNECTION_NAME}'") as view:
            connection_id, view.note = objects.ensure_connection(user, source_id)
        with steps.step("dbt workspace: the example dbt project") as view:
            url, view.note = prepare_repository(settings.org_home(objects.ORG_SLUG))
            objects.save_dbt_workspace(user, url)
        schedule = f"daily at 06:00 {objects.TIMEZONE}"
        with steps.step(f"Pipeline '{objects.PIPELINE_NAME}': sync, dbt run, dbt test; {schedule}") as view:
            pipeline_id, view.note = objects.ensure_pipeline(user, connection_id)
        with steps.step("Running the pipeline", counted=True) as view:
            run_id = start_run(user, pipeline_id, addresses.prefect_ui)
            run = follow_run(user, run_id, steps, view, timeout_s)
            view.note = run["state"]
        if run["state"] not in SUCCEEDED:
            for line in error_lines(user, run_id):
                steps.note(line)
        with steps.step("Counting the rows of the warehouse's tables"):
            tables = table_rows(user)
        return Outcome(run_id, run["state"], run_step_times(run), tables, user_login, addresses)
    finally:
        admin.close()
        user.close()


def print_summary(outcome: Outcome, settings: Settings, elapsed_s: float) -> None:
    """Rows per table, time per step, the login and the addresses."""
    rows = Table(title="Rows per table", title_justify="left", show_edge=False)
    rows.add_column("table", no_wrap=True)
    rows.add_column("rows", justify="right", no_wrap=True)
    for table in outcome.tables:
        rows.add_row(table.name, f"{table.rows}{'+' if table.capped else ''}")
    times = Table(
        title=f"Pipeline run {outcome.run_id}: {outcome.state}", title_justify="left", show_edge=False
    )
    times.add_column("step", no_wrap=True)
    times.add_column("state", no_wrap=True)
    times.add_column("time", justify="right", no_wrap=True)
    for step in outcome.steps:
        times.add_row(step.name, step.state, f"{step.seconds:.1f} s" if step.seconds is not None else "")
    console.print()
    console.print(rows)
    console.print()
    console.print(times)
    addresses = outcome.addresses
    lines = [
        "",
        f"Dashboard   {addresses.api_base}/  (open it in a browser and sign in with the login below)",
        f"Log in as {outcome.user.email} with password {outcome.user.password} (org '{objects.ORG_SLUG}').",
        f"  Logins      {accounts.logins_path(settings)}",
        f"  API docs    {addresses.api_docs}",
        f"  Prefect UI  {addresses.prefect_ui}  ({addresses.prefect_sign_in})",
        f"  Warehouse   {settings.org_home(objects.ORG_SLUG)}/",
        f"The demo took {elapsed_s:.0f} s.",
    ]
    console.print("\n".join(lines), markup=False)
