"""Test helpers for anything that fetches: a real HTTP server on loopback, a network jail
and a stub resolver.

    async with LoopbackServer({"/t/1": Page("<html>…</html>"), "/old": redirect("/t/1")}) as srv:
        ...fetch srv.url("/t/1")...
        assert srv.hits("/t/1") == 1 and srv.connections  # every request and TCP connection

    jail = NetworkJail(remap={PUBLIC_IP: "127.0.0.1"}).install(monkeypatch)
    ...  # a socket connect to anything but loopback (or a remapped address) raises JailBreak
    assert jail.escapes == []

A route is a `Page` (fixed answer) or an async handler `(web.Request) -> web.StreamResponse`.
Routes match `path?query` first, then the path alone; anything else answers 404 text/plain.
The jail raises *before* the real connect, so a broken guard can never send a packet out;
use it in every test that might try a non-loopback address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Page:
    """A fixed answer. `delay` (seconds) is waited before answering, to make requests overlap."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Page | Handler


def redirect(location: str, status: int = 302) -> Page:
    return Page(b"", status=status, content_type="text/plain", headers={"Location": location})


def drip(byte: bytes = b"x", every: float = 1.0, content_type: str = "text/html") -> Handler:
    """A handler that sends headers, then one `byte` every `every` seconds, forever."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        while True:
            await response.write(byte)
            await asyncio.sleep(every)

    return handler


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    """Path and query, as sent."""
    headers: Mapping[str, str]
    peer: Any


class _RecordingServer(web.Server):
    """aiohttp's low-level server, telling its owner about each TCP connection."""

    def __init__(self, handler: Handler, owner: LoopbackServer, **kwargs: Any) -> None:
        super().__init__(handler, handler_cancellation=True, **kwargs)
        self._owner = owner

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._owner._opened(transport.get_extra_info("peername"))

    def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._owner._closed()


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (or ::1) that serves `routes` and records all traffic.

    `connections` lists the peer of every accepted TCP connection, `requests` every request;
    `max_open_connections` and `max_in_flight` are high-water marks for politeness tests.
    With `keep_alive=False` every answer closes its connection (each request reconnects).
    """

    def __init__(
        self,
        routes: Mapping[str, Route] | None = None,
        *,
        host: str = "127.0.0.1",
        keep_alive: bool = True,
    ) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.host = host
        self.keep_alive = keep_alive
        self.requests: list[Seen] = []
        self.connections: list[Any] = []
        self.open_connections = 0
        self.max_open_connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.ServerRunner | None = None
        self._sock: socket.socket | None = None

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> LoopbackServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self._runner = web.ServerRunner(
            _RecordingServer(self._dispatch, self), shutdown_timeout=0.2
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> LoopbackServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._sock is not None, "start the server first"
        return int(self._sock.getsockname()[1])

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    # --- what was seen ------------------------------------------------------------------------

    def route(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def _opened(self, peer: Any) -> None:
        self.connections.append(peer)
        self.open_connections += 1
        self.max_open_connections = max(self.max_open_connections, self.open_connections)

    def _closed(self) -> None:
        self.open_connections -= 1

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        self.requests.append(
            Seen(request.method, request.path_qs, dict(request.headers), request.remote)
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            route = self.routes.get(request.path_qs) or self.routes.get(request.path)
            if route is None:
                response: web.StreamResponse = web.Response(
                    status=404, text="not found", content_type="text/plain"
                )
            elif isinstance(route, Page):
                if route.delay:
                    await asyncio.sleep(route.delay)
                body = route.body.encode() if isinstance(route.body, str) else route.body
                response = web.Response(
                    status=route.status,
                    body=body,
                    headers={"Content-Type": route.content_type, **route.headers},
                )
            else:
                response = await route(request)  # type: ignore[arg-type]
            if not self.keep_alive:
                response.force_close()
            return response
        finally:
            self.in_flight -= 1


# --- keeping tests on loopback ------------------------------------------------------------------


class JailBreak(AssertionError):
    """A test tried to reach a non-loopback address (or real DNS). Never an OSError, so
    code under test cannot swallow it as an ordinary connection failure."""


def _is_loopback(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class NetworkJail:
    """Lets sockets connect only to loopback, optionally mapping fake public addresses there.

    `remap` maps an IP (say a public one a stub resolver hands out) to a loopback IP; the
    port is kept. `attempts` records every destination asked for (before remapping),
    `escapes` those refused. Host-name look-ups through socket.getaddrinfo are refused too
    (numeric hosts pass), so no test ever asks a real DNS server.
    """

    def __init__(self, remap: Mapping[str, str] | None = None) -> None:
        self.remap = {str(ipaddress.ip_address(k)): v for k, v in (remap or {}).items()}
        self.attempts: list[tuple[str, int]] = []
        self.escapes: list[tuple[str, int]] = []
        self.lookups: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetworkJail:
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_getaddrinfo = socket.getaddrinfo
        jail = self

        def connect(sock: socket.socket, address: Any) -> None:
            return real_connect(sock, jail.check(sock, address))

        def connect_ex(sock: socket.socket, address: Any) -> int:
            return real_connect_ex(sock, jail.check(sock, address))

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None and not _is_numeric(host):
                jail.lookups.append(str(host))
                raise JailBreak(f"a test tried a real DNS look-up of {host!r}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self

    def check(self, sock: socket.socket, address: Any) -> Any:
        """The destination to really use; raises JailBreak for anything off loopback."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return address
        host, port = str(address[0]), int(address[1])
        self.attempts.append((host, port))
        try:
            mapped = self.remap.get(str(ipaddress.ip_address(host.split("%", 1)[0])))
        except ValueError:
            mapped = None
        if mapped is not None:
            if sock.family == socket.AF_INET6 and ":" not in mapped:
                mapped = f"::ffff:{mapped}"
            return (mapped, port, *address[2:])
        if not _is_loopback(host):
            self.escapes.append((host, port))
            raise JailBreak(f"a test tried to connect to {host}:{port}, which is not loopback")
        return address


def _is_numeric(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    return True


class StubResolver:
    """A resolver for SafeFetcher(resolver=...): fixed answers per host name, no real DNS.

    `set(name, ips)` changes an answer mid-test (DNS rebinding); `calls` lists every name
    asked for. An unknown name fails like a DNS miss (OSError).
    """

    def __init__(self, answers: Mapping[str, Sequence[str]] | None = None) -> None:
        self.answers: dict[str, list[str]] = {k: list(v) for k, v in (answers or {}).items()}
        self.calls: list[str] = []

    def set(self, name: str, ips: Sequence[str]) -> None:
        self.answers[name] = list(ips)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise OSError(f"stub resolver: no address for {host}")
        return list(self.answers[host])
