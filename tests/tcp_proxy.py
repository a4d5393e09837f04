"""A switchable TCP proxy, to cut a real service off from the API under test without stopping it.

It listens on a local port of its own and forwards every connection to the upstream service, in
one of three modes, switched at any time from the test:

- `PASS`: bytes flow both ways, as if the proxy were not there;
- `REFUSE`: the service is stopped: nothing listens on the port (a connection is refused) and the
  connections that were open are reset;
- `BLACK_HOLE`: the service's host stopped answering: a connection is accepted and never answered,
  and the connections that were open go silent (or are reset, with `hold_open=False`, as the
  network stack of a client that set a TCP timeout would end them).

Leaving `BLACK_HOLE` resets the connections it held, as a client's would be after a time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.network import free_port


class Mode(enum.Enum):
    PASS = "pass"
    REFUSE = "refuse"
    BLACK_HOLE = "black-hole"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (the peer reads ECONNRESET, not an orderly end)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Connection:
    """One client connection and, when it is being forwarded, its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    pipes: list[asyncio.Task[None]] = field(default_factory=list)

    def freeze(self) -> None:
        """Stop forwarding; both sockets stay open and silent."""
        for pipe in self.pipes:
            pipe.cancel()

    def reset(self) -> None:
        self.freeze()
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)


class TcpProxy:
    """A proxy on 127.0.0.1:`port` in front of `upstream_host:upstream_port`; see the module."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.port = free_port()
        self.mode = Mode.PASS
        self._hold_open = True
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def pass_through(self) -> None:
        """Forward traffic again."""
        self._call(self._switch(Mode.PASS))

    def refuse(self) -> None:
        """Act as a stopped service: refuse connections, reset the open ones."""
        self._call(self._switch(Mode.REFUSE))

    def black_hole(self, *, hold_open: bool = True) -> None:
        """Act as a host that stopped answering: accept connections and never answer; the open
        ones go silent (`hold_open`) or are reset."""
        self._hold_open = hold_open
        self._call(self._switch(Mode.BLACK_HOLE))

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _close_all(self) -> None:
        await self._unlisten()
        for connection in list(self._open):
            connection.reset()
        self._open.clear()

    async def _switch(self, mode: Mode) -> None:
        leaving_black_hole = self.mode is Mode.BLACK_HOLE
        self.mode = mode
        if mode is Mode.REFUSE or leaving_black_hole or (mode is Mode.BLACK_HOLE and not self._hold_open):
            for connection in list(self._open):
                connection.reset()
            self._open.clear()
        elif mode is Mode.BLACK_HOLE:
            for connection in self._open:
                connection.freeze()
        if mode is Mode.REFUSE:
            await self._unlisten()
        else:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(client=writer)
        self._open.add(connection)
        if self.mode is not Mode.PASS:
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            self._open.discard(connection)
            _reset(writer)
            return
        connection.upstream = up_writer
        if self.mode is not Mode.PASS:
            return
        connection.pipes = [
            asyncio.create_task(self._pipe(reader, up_writer, connection)),
            asyncio.create_task(self._pipe(up_reader, writer, connection)),
        ]

    async def _pipe(
        self, source: asyncio.StreamReader, target: asyncio.StreamWriter, connection: _Connection
    ) -> None:
        try:
            while chunk := await source.read(65536):
                target.write(chunk)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        if connection in self._open and self.mode is Mode.PASS:
            self._open.discard(connection)
            connection.client.close()
            if connection.upstream is not None:
                connection.upstream.close()


@contextlib.contextmanager
def tcp_proxy(upstream_host: str, upstream_port: int) -> Iterator[TcpProxy]:
    """A started proxy in `PASS` mode, stopped at the end."""
    proxy = TcpProxy(upstream_host, upstream_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
