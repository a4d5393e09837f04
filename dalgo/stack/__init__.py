"""The local stack behind `dalgo serve` and `dalgo demo`: a Prefect server, a process worker and
the API, each a supervised child process in its own process group.

`LocalStack` starts the parts in order, waits until each one answers and hands control back;
`LocalStack.stop` stops every child (and every process a child started, such as flow runs). Each
child runs under a guard (`guard.py`) that ends it, and all it started, when the supervisor dies
without stopping it (SIGKILL, the OOM killer).
`run_stack` is `dalgo serve`: it starts the stack, prints where everything listens and stays in
the foreground until Ctrl-C or SIGTERM; the death of one child stops the others and makes the exit
code non-zero.
"""

from dalgo.stack.checks import StartupError, StopRequestedError, stop_on_signals
from dalgo.stack.children import Child
from dalgo.stack.serve import print_ready, report_startup_error, run_stack, supervise
from dalgo.stack.supervisor import (
    LocalStack,
    StackAddresses,
    local_auth_string,
    local_encryption_key,
    settings_env,
)

__all__ = [
    "Child",
    "LocalStack",
    "StackAddresses",
    "StartupError",
    "StopRequestedError",
    "local_auth_string",
    "local_encryption_key",
    "print_ready",
    "report_startup_error",
    "run_stack",
    "settings_env",
    "stop_on_signals",
    "supervise",
]
