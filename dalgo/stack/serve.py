"""`dalgo serve`: the local stack in the foreground until Ctrl-C, SIGTERM or the death of a part."""

from __future__ import annotations

import threading

import httpx
from rich.markup import escape

from dalgo.settings import Settings
from dalgo.stack.checks import POLL_INTERVAL_S, StartupError, StopRequestedError, stop_on_signals
from dalgo.stack.children import exit_text
from dalgo.stack.supervisor import LocalStack, StackAddresses, console


def run_stack(
    settings: Settings,
    api_port: int = 8000,
    prefect_port: int = 4200,
    host: str = "127.0.0.1",
    prefect_host: str = "127.0.0.1",
) -> int:
    """Run the local stack in the foreground until SIGINT/SIGTERM or a child's death.

    Returns 0 after a requested stop, 1 when a part failed to start (a port taken, say) or died.
    """
    stop = threading.Event()
    stack = LocalStack(settings, api_port, prefect_port, host, stop, prefect_host=prefect_host)
    with stop_on_signals(stop):
        try:
            try:
                addresses = stack.start()
            except StopRequestedError:
                return 0
            except StartupError as error:
                report_startup_error(error)
                return 1
            print_ready(stack, addresses)
            console.print("Press Ctrl-C to stop.", markup=False)
            return supervise(stack)
        finally:
            console.print("Stopping ...")
            stack.stop()
            console.print("Stopped.")


def report_startup_error(error: StartupError) -> None:
    """Say which part did not start, with the last lines of its log."""
    console.print(f"[red]The stack did not start: {escape(str(error))}.[/red]")
    if error.child is not None:
        console.print(f"Last lines of {error.child.log_path}:", markup=False)
        console.print(error.child.tail(), markup=False)


def print_ready(stack: LocalStack, addresses: StackAddresses) -> None:
    """Say where each part listens, and whether the API finds its dependencies healthy."""
    api_base = addresses.api_base
    lines = [
        "The stack is up.",
        f"  Dashboard    {api_base}/",
        f"  API          {api_base}  (docs: {addresses.api_docs})",
        f"  Prefect UI   {addresses.prefect_ui}  ({addresses.prefect_sign_in})",
        f"  Prefect API  {addresses.prefect_api}",
        f"  Work pool    {stack.settings.work_pool}",
        f"  DALGO_HOME   {stack.home}",
        f"  Logs         {stack.logs}/",
    ]
    try:
        health = httpx.get(f"{api_base}/api/v1/health", timeout=10)
        if health.status_code != 200:
            lines.append(f"  API health answered {health.status_code}: {health.text[:300]}")
    except httpx.HTTPError as error:
        lines.append(f"  API health did not answer: {error}")
    console.print("\n".join(lines), markup=False)


def supervise(stack: LocalStack) -> int:
    """Wait for a stop signal (returns 0) or the death of a child (returns 1)."""
    while not stack.stop_event.wait(POLL_INTERVAL_S):
        dead = stack.dead_child()
        if dead is not None:
            child, code = dead
            console.print(f"[red]{child.name} exited unexpectedly ({exit_text(code)}).[/red]")
            console.print(f"Last lines of {child.log_path}:", markup=False)
            console.print(child.tail(), markup=False)
            return 1
    return 0
