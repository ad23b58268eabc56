"""The one HTTP client for user-supplied URLs: SSRF guard, limits, politeness, retries.

Users paste URLs, so every request could be aimed at the host's own network. Hence:
URLs are parsed and rebuilt (`canonical_url`), every address actually connected to is
checked at connect time (a guarded resolver plus a `socket_factory`, which also sees IP
literals that skip the resolver), redirects are followed by hand and re-checked, and
bodies are streamed and decompressed here with a hard cap. One `SafeFetcher` lives per
process so the per-host limits hold across all commands; each command gets a
`CommandFetcher` that counts its own pages and bytes.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.utils
import ipaddress
import json
import math
import re
import socket
import string
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import idna
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.errors import SourceError
from bot.offload import off_loop_if_big
from bot.settings import FetchSettings
from bot.sources.base import FetchedPage
from bot.sources.robots import MAX_ROBOTS_BYTES, RobotsCache, RobotsPolicy, policy_for_answer

MiB = 1024 * 1024
MAX_REDIRECTS = 5
MAX_URL_LENGTH = 4096
"""Decoded bytes one command may fetch in total when the caller sets no limit."""
HOST_CONNECTIONS = 2

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""host, port → IP address strings. The default asks the system (getaddrinfo)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PUBLIC_ONLY = (
    "threadwise only reads public forums (for a forum on your own network, set "
    "[fetch] allow_private_addresses = true)"
)

# --- URLs -----------------------------------------------------------------------------------

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_HEX = frozenset(string.hexdigits)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMBER = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """The one spelling of `url` threadwise stores and requests, or SourceError.

    http/https only, no user:password@, lower-case scheme and host, IDNA host, IPv4 in
    dotted-quad form however it was written (2130706433, 0x7f.1, 127.1 → 127.0.0.1),
    default port dropped, path and query percent-encoding normalised, dot segments
    removed, fragment dropped.
    """
    if not isinstance(url, str):
        raise SourceError("a web address must be text")
    raw = url.strip()
    shown = _short(raw)
    if len(raw) > MAX_URL_LENGTH:
        raise SourceError(f"the web address {shown} is too long")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise SourceError(f"{shown} is not a valid web address") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise SourceError(
            f"{shown} is not a web address; threadwise reads only http:// and https:// links"
        )
    if "@" in parts.netloc:
        raise SourceError(
            f"{shown} contains a user name or password; threadwise does not send credentials, "
            "so give the address without the part before '@'"
        )
    host = _canonical_host(parts.netloc, parts.hostname, shown)
    if port == 0:
        raise SourceError(f"{shown} is not a valid web address (port 0)")
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_normalise_escapes(parts.path, _PATH_SAFE))
    query = _normalise_escapes(parts.query, _QUERY_SAFE)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _canonical_host(netloc: str, hostname: str | None, shown: str) -> str:
    if not hostname:
        raise SourceError(f"{shown} has no host name")
    if netloc.startswith("["):
        if "%" in hostname:
            raise SourceError(f"{shown} uses a scoped IPv6 address, which is never a forum")
        try:
            return f"[{ipaddress.IPv6Address(hostname)}]"
        except ValueError:
            raise SourceError(f"{shown} has an invalid IPv6 address") from None
    host = hostname.rstrip(".") if hostname.endswith(".") and hostname != "." else hostname
    labels = host.split(".")
    if _NUMBER.match(labels[-1]):  # WHATWG: a host ending in a number is an IPv4 address
        ip = parse_ipv4(host)
        if ip is None:
            raise SourceError(f"{shown} has an invalid IPv4 address")
        return str(ip)
    if host.isascii():
        ascii_host = host.lower()
    else:
        try:
            ascii_host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise SourceError(f"{shown} has an invalid host name") from None
    if len(ascii_host) > 253 or not all(_LABEL.match(x) for x in ascii_host.split(".")):
        raise SourceError(f"{shown} has an invalid host name")
    if _NUMBER.match(ascii_host.split(".")[-1]):  # IDNA mapping made it numeric (e.g. "１")
        ip = parse_ipv4(ascii_host)
        if ip is None:
            raise SourceError(f"{shown} has an invalid IPv4 address")
        return str(ip)
    return ascii_host


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read an IPv4 address the way inet_aton and browsers do: 1-4 parts, each decimal,
    0x-hex or 0-octal, the last part filling the remaining bytes. None if it is not one."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                numbers.append(int(part[2:], 16) if part[2:] else 0)
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10))
        except ValueError:
            return None
        if part.startswith(("+", "-")) or "_" in part or not part.isascii():
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Percent-encode what must be, decode escaped unreserved characters, upper-case hex."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path; an empty path becomes "/"."""
    segments = path.split("/")[1:] if path.startswith("/") else path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments and segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _host_of(url: str) -> str:
    """The host as written in a canonical URL (brackets kept for IPv6)."""
    netloc = urlsplit(url).netloc
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


# --- addresses --------------------------------------------------------------------------------

_V4_DENY = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT: neither private nor global (cpython#119812)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_DENY = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo 2001::/32 included
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, SIIT, NAT64, 6to4), if any."""
    if ip in _V4_MAPPED or ip in _V4_TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """True only for globally routable unicast addresses, IPv4 forms inside IPv6 unwrapped.

    An explicit table rather than `is_global` (which says yes to 6to4/NAT64 forms of
    127.0.0.1 and 169.254.169.254, and changed between patch releases).
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public_address(inner)
        return ip in _V6_GLOBAL_UNICAST and not any(ip in n for n in _V6_DENY)
    return not any(ip in n for n in _V4_DENY)


def _never_a_target(ip: IPAddress) -> bool:
    """Refused even with allow_private: no server answers HTTP there."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and ip not in _SIX_TO_FOUR:
            return _never_a_target(inner)
    return ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255")


class _Refused(OSError):
    """A guard refusal raised inside aiohttp's connect path; carries the user's message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Blocked(SourceError):
    """SourceError for an address the guard refused."""


class _TooManyRedirects(SourceError):
    """More than MAX_REDIRECTS hops."""


class _Guard:
    """Decides which addresses may be connected to: at URL level (IP literals, localhost),
    after resolution, and finally on the exact sockaddr being connected."""

    def __init__(self, allow_private: bool, resolver: Resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver

    def problem(self, address: str) -> str | None:
        """Why `address` may not be connected to ("a private or local address"), or None."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return "not an IP address"
        if _never_a_target(ip):
            return "not an address a forum can have"
        if self.allow_private or is_public_address(ip):
            return None
        return "a private or local address"

    def check_host(self, host: str) -> None:
        """Refuse before any connection: IP literals and localhost names."""
        bare = host[1:-1] if host.startswith("[") else host
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            if not self.allow_private and (host == "localhost" or host.endswith(".localhost")):
                raise _Blocked(f"{host} is a private or local address; {_PUBLIC_ONLY}") from None
            return
        problem = self.problem(bare)
        if problem:
            raise _Blocked(f"{bare} is {problem}; {_PUBLIC_ONLY}")

    async def resolve(self, host: str, port: int) -> list[str]:
        """All addresses of `host`, or a refusal if any of them is not public (a name that
        mixes public and private answers is not trusted with either)."""
        addresses = list(await self.resolver(host, port))
        if not addresses:
            raise OSError(f"no address found for {host}")
        for address in addresses:
            problem = self.problem(address)
            if problem:
                raise _Refused(f"{host} points to {address}, {problem}; {_PUBLIC_ONLY}")
        return addresses

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's connect hook: the last word on the sockaddr actually connected to."""
        family, type_, proto, _, sockaddr = addr_info
        host = str(sockaddr[0]).split("%", 1)[0]
        scoped = family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]
        problem = "a scoped local address" if scoped else self.problem(host)
        if problem:
            raise _Refused(f"{host} is {problem}; {_PUBLIC_ONLY}")
        return socket.socket(family=family, type=type_, proto=proto)


class _GuardedResolver(AbstractResolver):
    def __init__(self, guard: _Guard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await self._guard.resolve(host, port):
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family not in (socket.AF_UNSPEC, fam):
                continue
            results.append(
                ResolveResult(hostname=host, host=address, port=port, family=fam, proto=0, flags=0)
            )
        if not results:
            raise OSError(f"no usable address for {host}")
        return results

    async def close(self) -> None:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo in a worker thread (the event loop's), addresses only, duplicates dropped."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# --- bodies -----------------------------------------------------------------------------------


class _Inflater:
    """Streams Content-Encoding gzip/deflate with bounded output per call, so a small
    compressed body cannot expand past the cap in memory (a decompression bomb)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._raw_deflate = False
        self._decoder = self._new()
        self._started = False

    def _new(self) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes for `data`: at most room + 1, so the caller sees an overflow."""
        out = bytearray()
        while data and len(out) <= room:
            try:
                piece = self._decoder.decompress(data, room + 1 - len(out))
            except zlib.error:
                if self._gzip or self._started:
                    raise
                self._raw_deflate = True  # "deflate" sent without its zlib header
                self._decoder = self._new()
                piece = self._decoder.decompress(data, room + 1 - len(out))
            self._started = True
            out += piece
            if self._decoder.eof and self._decoder.unused_data:  # another gzip member
                data = self._decoder.unused_data
                self._decoder = self._new()
            else:
                data = self._decoder.unconsumed_tail
        return bytes(out)

    def flush(self) -> bytes:
        return self._decoder.flush() if self._started else b""


def _mb(size: int) -> str:
    if size >= MiB:
        value = size / MiB
        return f"{value:.0f} MB" if value == int(value) else f"{value:.1f} MB"
    return f"{size // 1024} KB" if size >= 1024 else f"{size} bytes"


def _secs(value: float) -> str:
    return f"{value:g} s"


_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{1,40})""", re.I
)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_WINDOWS_ALIASES = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso8859-1"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in _WINDOWS_ALIASES:  # as browsers do (WHATWG Encoding)
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes, charset: str | None, *, html: bool) -> str:
    """Text from a body: BOM, then the header's charset, then <meta charset> for HTML,
    else UTF-8; undecodable bytes become U+FFFD rather than failing the page."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace")
    codec = _codec(charset)
    if codec is None and html:
        match = _META_CHARSET.search(body[:4096])
        codec = _codec(match.group(1).decode("ascii")) if match else None
        if codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            codec = "utf-8"  # an ASCII-readable meta tag cannot be UTF-16
    return body.decode(codec or "utf-8", errors="replace")


def _parse_json(body: bytes, charset: str | None) -> Any:
    return json.loads(decode_body(body, charset, html=False))


# --- politeness -------------------------------------------------------------------------------


class _HostGate:
    """At most HOST_CONNECTIONS requests at once to one host, starts spaced by `delay`.

    Slots are reserved from a schedule (not measured after sleeping), so concurrent
    requests queue up one delay apart; a 429/503 pushes the whole host's schedule back.
    """

    def __init__(
        self, delay: float, clock: Callable[[], float], sleep: Callable[[float], Awaitable[Any]]
    ) -> None:
        self._semaphore = asyncio.Semaphore(HOST_CONNECTIONS)
        self._delay = delay
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._semaphore:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._delay
            if slot > now:
                await self._sleep(slot - now)
            yield

    def hold_until(self, moment: float) -> None:
        self._next = max(self._next, moment)

    @property
    def idle(self) -> bool:
        return not self._semaphore.locked() and self._next <= self._clock()


# --- the fetcher ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: the whole request, establishing the connection, and any gap between reads."""

    total: float = 20.0
    connect: float = 5.0
    sock_read: float = 10.0


@dataclass(frozen=True, slots=True)
class _Kind:
    accept_header: str
    mimes: tuple[str, ...]
    suffix: str | None
    label: str


_HTML = _Kind(
    "text/html, application/xhtml+xml;q=0.9",
    ("text/html", "application/xhtml+xml"),
    None,
    "a web page",
)
_JSON = _Kind("application/json", ("application/json",), "+json", "JSON")
_ROBOTS = _Kind("text/plain", ("text/plain",), None, "robots.txt")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str
    status: int
    reason: str
    mime: str = ""
    body: bytes = b""
    charset: str | None = None
    location: str | None = None


class SafeFetcher:
    """The process-wide guarded HTTP client. Use `for_command()` per command.

    `resolver`, `clock`, `wall_clock` and `sleep` exist for tests (a stub resolver, and
    recorded waits instead of real ones). `clock` is monotonic seconds; `wall_clock` is
    Unix time, used only to read an HTTP-date Retry-After.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver | None = None,
        timeouts: Timeouts | None = None,
        max_retries: int = 3,
        retry_after_cap: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.timeouts = timeouts or Timeouts()
        self._guard = _Guard(settings.allow_private_addresses, resolver or system_resolver)
        self._max_retries = max_retries
        self._retry_after_cap = retry_after_cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._gates: dict[str, _HostGate] = {}
        self._robots = RobotsCache(self._load_robots, clock=clock)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def for_command(
        self, max_pages: int | None = None, max_total_bytes: int | None = None
    ) -> CommandFetcher:
        """A PageFetcher for one command: pages beyond `max_pages` (default [fetch]
        max_pages) and decoded bytes beyond `max_total_bytes` are refused."""
        return CommandFetcher(
            self,
            max_pages=self.settings.max_pages if max_pages is None else max_pages,
            max_total_bytes=(
                self.settings.max_thread_bytes if max_total_bytes is None else max_total_bytes
            ),
        )

    # --- plumbing -----------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the fetcher is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=100,
                limit_per_host=HOST_CONNECTIONS,
                use_dns_cache=False,
                resolver=_GuardedResolver(self._guard),
                socket_factory=self._guard.socket_factory,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxy or netrc from the environment
                auto_decompress=False,  # decompressed here, with a cap
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(
                    total=self.timeouts.total,
                    connect=self.timeouts.connect,
                    sock_connect=self.timeouts.connect,
                    sock_read=self.timeouts.sock_read,
                ),
                headers={"User-Agent": self.settings.user_agent},
            )
        return self._session

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            if len(self._gates) > 1024:
                self._gates = {h: g for h, g in self._gates.items() if not g.idle}
            gate = self._gates[host] = _HostGate(
                self.settings.per_host_delay, self._clock, self._sleep
            )
        return gate

    async def _get(
        self, url: str, kind: _Kind, limit: int, too_big: str | None, *, robots: bool = True
    ) -> _Answer:
        """Follow redirects by hand: every hop canonicalised, guarded and robots-checked.
        `too_big` is the error for a body over `limit`; None keeps the first `limit` bytes."""
        current = canonical_url(url)
        for hop in range(MAX_REDIRECTS + 1):
            self._guard.check_host(_host_of(current))
            if robots:
                await self._obey_robots(current)
            answer = await self._exchange(current, kind, limit, too_big)
            if answer.status not in _REDIRECTS:
                return answer
            if hop == MAX_REDIRECTS:
                raise _TooManyRedirects(
                    f"{_short(url)} redirected more than {MAX_REDIRECTS} times; threadwise "
                    "stops there"
                )
            location = answer.location or ""
            try:
                current = canonical_url(urljoin(current, location))
            except SourceError as exc:
                raise SourceError(
                    f"{_short(url)} redirected to {_short(location)}, which threadwise will not "
                    f"follow: {exc}"
                ) from None
        raise AssertionError("unreachable")

    async def _exchange(self, url: str, kind: _Kind, limit: int, too_big: str | None) -> _Answer:
        """One request, retried on 429/503 as the server asks; a redirect is returned as is
        (with its Location) for `_get` to check."""
        host = _host_of(url)
        gate = self._gate(host)
        netloc = urlsplit(url).netloc
        for attempt in range(self._max_retries + 1):
            async with gate.turn():
                try:
                    async with self._client().get(
                        URL(url, encoded=True),
                        allow_redirects=False,
                        headers={"Accept": kind.accept_header, "Accept-Encoding": "gzip, deflate"},
                    ) as response:
                        status = response.status
                        reason = response.reason or ""
                        if status in _REDIRECTS:
                            location = response.headers.get("Location")
                            if not location:
                                raise SourceError(
                                    f"the forum answered {status} {reason} for {url} "
                                    "without saying where to"
                                )
                            return _Answer(url, status, reason, location=location)
                        retry_after = response.headers.get("Retry-After")
                        if not 200 <= status < 300:
                            if status in _RETRYABLE and attempt < self._max_retries:
                                wait = self._retry_wait(retry_after, attempt, url, status, reason)
                                gate.hold_until(self._clock() + wait)
                                continue
                            return _Answer(url, status, reason, response.content_type)
                        mime = self._check_type(response, kind, url)
                        body = await self._read(response, limit, too_big, url)
                        return _Answer(url, status, reason, mime, body, response.charset)
                except SourceError:
                    raise
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    raise self._explain(exc, url, netloc) from None
        raise AssertionError("unreachable")

    def _retry_wait(
        self, header: str | None, attempt: int, url: str, status: int, reason: str
    ) -> float:
        wait = float(2**attempt)  # 1, 2, 4 s without a Retry-After
        if header:
            header = header.strip()
            if header.isdigit():
                wait = float(header)
            else:
                try:
                    when = email.utils.parsedate_to_datetime(header)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None and when.tzinfo is not None:
                    wait = max(0.0, when.timestamp() - self._wall_clock())
        if wait > self._retry_after_cap:
            raise SourceError(
                f"the forum answered {status} {reason} for {url} and asked threadwise to wait "
                f"{wait:.0f} s before trying again; try again later"
            )
        return wait

    @staticmethod
    def _check_type(response: aiohttp.ClientResponse, kind: _Kind, url: str) -> str:
        mime = response.content_type.lower()
        if mime in kind.mimes or (kind.suffix and mime.endswith(kind.suffix)):
            return mime
        if kind is _ROBOTS:  # parsed as lines whatever the label; size capped on reading
            return mime
        sent = mime if "Content-Type" in response.headers else "no content type"
        raise SourceError(f"{url} is {sent}, not {kind.label}; threadwise did not read it")

    async def _read(
        self, response: aiohttp.ClientResponse, limit: int, too_big: str | None, url: str
    ) -> bytes:
        """The decoded body, streamed: never more than `limit` bytes are kept in memory."""
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise SourceError(
                f"{url} was sent compressed as {encoding!r}, which threadwise does not read"
            )
        inflater = None if encoding in ("", "identity") else _Inflater(encoding)
        if too_big and inflater is None and (response.content_length or 0) > limit:
            raise SourceError(too_big)
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(64 * 1024):
                room = limit - len(body)
                piece = chunk if inflater is None else inflater.feed(chunk, room)
                if len(piece) > room:
                    if too_big is None:
                        return bytes(body + piece[:room])
                    raise SourceError(too_big)
                body += piece
            if inflater is not None:
                body += inflater.flush()
                if len(body) > limit:
                    if too_big is None:
                        return bytes(body[:limit])
                    raise SourceError(too_big)
        except zlib.error:
            raise SourceError(f"{url} was sent with broken compression") from None
        return bytes(body)

    def _explain(self, exc: BaseException, url: str, host: str) -> SourceError:
        """A chat user's sentence for a network failure (`host` may include the port)."""
        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, _Refused):
                return _Blocked(seen.message)
            os_error = getattr(seen, "os_error", None)
            if isinstance(os_error, _Refused):
                return _Blocked(os_error.message)
            seen = seen.__cause__ or seen.__context__
        if _PUBLIC_ONLY in str(exc):  # several refusals merged into one OSError
            return _Blocked(f"{host} is a private or local address; {_PUBLIC_ONLY}")
        t = self.timeouts
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return SourceError(f"could not connect to {host}: timed out after {_secs(t.connect)}")
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return SourceError(
                f"{host} stopped sending {url}: timed out after {_secs(t.sock_read)}"
            )
        if isinstance(exc, TimeoutError):
            return SourceError(f"reading {url} timed out after {_secs(t.total)}")
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return SourceError(f"could not connect to {host}: its TLS certificate is not valid")
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return SourceError(f"could not connect to {host}: no such host")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return SourceError(f"could not connect to {host}")
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
            return SourceError(f"the connection to {host} broke off while reading {url}")
        if isinstance(exc, aiohttp.ClientResponseError):
            return SourceError(f"{host} sent an answer threadwise cannot read for {url}")
        return SourceError(f"could not read {url} ({type(exc).__name__})")

    # --- robots.txt ---------------------------------------------------------------------------

    async def _obey_robots(self, url: str) -> None:
        origin = _origin(url)
        policy = await self._robots.policy(origin)
        if policy.allows(url, self.settings.user_agent):
            return
        if policy.reason:
            raise SourceError(
                f"threadwise cannot read {origin} for now: {policy.reason}, and a site whose "
                "robots.txt cannot be read is treated as closed to robots (RFC 9309)"
            )
        raise SourceError(f"the forum's robots.txt forbids threadwise to read {url}")

    async def _load_robots(self, origin: str) -> RobotsPolicy:
        url = origin + "/robots.txt"
        try:
            answer = await self._get(url, _ROBOTS, MAX_ROBOTS_BYTES, None, robots=False)
        except _TooManyRedirects:
            return RobotsPolicy.everything()  # RFC 9309 §2.3.1.2: treat as unavailable
        # Any other failure (no connection, timeout, refused address) propagates: the site is
        # unreachable, so nothing is fetched, and the user hears the real reason.
        return policy_for_answer(
            answer.status, decode_body(answer.body, answer.charset, html=False)
        )


class CommandFetcher:
    """One command's handle on the shared fetcher (implements base.PageFetcher): the same
    guard, per-host limits and robots cache, plus this command's page and byte budget."""

    def __init__(self, fetcher: SafeFetcher, *, max_pages: int, max_total_bytes: int) -> None:
        self._fetcher = fetcher
        self.max_pages = max_pages
        self.max_total_bytes = max_total_bytes
        self.pages = 0
        self.bytes = 0

    async def get_text(self, url: str) -> FetchedPage:
        answer = await self._fetch(url, _HTML)
        text = await off_loop_if_big(
            len(answer.body), decode_body, answer.body, answer.charset, html=True
        )
        return FetchedPage(answer.url, answer.status, answer.mime, text)

    async def get_json(self, url: str) -> Any:
        answer = await self._fetch(url, _JSON)
        try:
            return await off_loop_if_big(len(answer.body), _parse_json, answer.body, answer.charset)
        except (ValueError, RecursionError):
            raise SourceError(f"{answer.url} did not answer with valid JSON") from None

    async def _fetch(self, url: str, kind: _Kind) -> _Answer:
        if self.pages >= self.max_pages:
            raise SourceError(f"stopped after {self.max_pages} pages (the limit per command)")
        self.pages += 1
        page_cap = self._fetcher.settings.max_page_bytes
        left = self.max_total_bytes - self.bytes
        if left < page_cap:
            limit, too_big = (
                max(left, 0),
                f"stopped: the pages read so far reach {_mb(self.max_total_bytes)}, "
                "the limit per command",
            )
        else:
            limit, too_big = page_cap, f"the page is larger than {_mb(page_cap)}"
        answer = await self._fetcher._get(url, kind, limit, too_big)
        if not 200 <= answer.status < 300:
            raise SourceError(
                f"the forum answered {answer.status} {answer.reason} for {answer.url}"
            )
        self.bytes += len(answer.body)
        return answer
