"""A pytest plugin (loaded with `-p`, before any conftest) that points this test process at the
session's Prefect server before Prefect is imported.

Prefect reads its settings once, when it is imported; some of its calls (events sent when a block
is loaded) use them rather than the client a caller passes. So the port of the server the session
starts is chosen here, first, and PREFECT_API_URL is set for the whole process; so is the
session's Prefect API credential (PREFECT_API_AUTH_STRING, made here for this session), which the
session's server demands and every client of this process, its worker and its flow runs send.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PREFECT_PORT = _free_port()
AUTH_STRING = f"dalgo-test:{secrets.token_urlsafe(24)}"
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{PREFECT_PORT}/api"
os.environ["PREFECT_API_AUTH_STRING"] = AUTH_STRING
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="dalgo-test-prefect-home-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
