"""The safe fetcher against real aiohttp servers on loopback (platform-rules S1-S6).

Every test runs inside a NetworkJail: a connect to anything but loopback raises before a
packet is sent, and real DNS is refused. "Public" hosts are simulated by a stub resolver
answering PUBLIC_IP, which the jail (and only the jail) maps to 127.0.0.1, so the guard
judges a genuinely public address while the bytes stay on this machine.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import ipaddress
import json
import socket
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import SourceError
from bot.settings import FetchSettings
from bot.sources import fetch as fetch_module
from bot.sources.fetch import (
    SafeFetcher,
    Timeouts,
    canonical_url,
    is_public_address,
    parse_ipv4,
)
from bot.sources.robots import RobotsCache, RobotsPolicy, policy_for_answer
from tests.sources.loopback import (
    JailBreak,
    LoopbackServer,
    NetworkJail,
    Page,
    StubResolver,
    drip,
    redirect,
)

PUBLIC_IP = "93.184.215.14"
"""Public by every rule; the jail maps it to 127.0.0.1, keeping the port."""
NAMES = {
    "forum.example": [PUBLIC_IP],
    "intranet.example": ["10.0.0.5"],
    "mixed.example": [PUBLIC_IP, "192.168.1.20"],
    "localhost": ["127.0.0.1"],
}
MiB = 1024 * 1024
PRIVATE = "a private or local address; threadwise only reads public forums"
HTML = "<!doctype html><title>t</title><p>{}</p>"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_v6 = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")


class FakeClock:
    """Monotonic time that only moves when the fetcher sleeps; records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


WALL = 1_800_000_000.0


@pytest.fixture(autouse=True)
def jail(monkeypatch: pytest.MonkeyPatch) -> NetworkJail:
    jail = NetworkJail(remap={PUBLIC_IP: "127.0.0.1"}).install(monkeypatch)
    yield jail
    assert jail.escapes == [], "a connection to a non-loopback address was attempted"
    assert jail.lookups == [], "a real DNS look-up was attempted"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer() as srv:
        yield srv


@pytest.fixture
async def inner() -> AsyncIterator[LoopbackServer]:
    """A second loopback server standing for an internal service: must never be reached."""
    async with LoopbackServer({"/": Page("secret"), "/secret": Page("secret")}) as srv:
        yield srv


@pytest.fixture
async def server6() -> AsyncIterator[LoopbackServer | None]:
    if not _ipv6_loopback():
        yield None
        return
    async with LoopbackServer({"/": Page(HTML.format("six"))}, host="::1") as srv:
        yield srv


@pytest.fixture
async def make(clock: FakeClock) -> AsyncIterator[Callable[..., SafeFetcher]]:
    made: list[SafeFetcher] = []

    def factory(
        *,
        private: bool = False,
        resolver: StubResolver | None = None,
        timeouts: Timeouts | None = None,
        **settings: object,
    ) -> SafeFetcher:
        fetcher = SafeFetcher(
            FetchSettings(
                **{"allow_private_addresses": private, "per_host_delay": 0.0, **settings}
            ),
            resolver=resolver or StubResolver(NAMES),
            timeouts=timeouts,
            clock=clock,
            sleep=clock.sleep,
            wall_clock=lambda: WALL,
        )
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        await fetcher.close()


def fill(template: str, server: LoopbackServer, server6: LoopbackServer | None) -> str:
    return template.format(port=server.port, port6=server6.port if server6 else 1)


# --- canonical URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("HTTP://Forum.Example:80/a/./b/../c?x=1#frag", "http://forum.example/a/c?x=1"),
        ("https://forum.example:443", "https://forum.example/"),
        ("https://forum.example:8443/t", "https://forum.example:8443/t"),
        ("http://Bücher.example/t/ü", "http://xn--bcher-kva.example/t/%C3%BC"),
        ("http://forum.example./t/1/..", "http://forum.example/t/"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://0177.0.0.01/", "http://127.0.0.1/"),
        ("http://[::FFFF:127.0.0.1]/", f"http://[{ipaddress.ip_address('::ffff:127.0.0.1')}]/"),
        ("http://x.example/%7e%2f%41 b?q=a b&c=%zz", "http://x.example/~%2FA%20b?q=a%20b&c=%25zz"),
        ("  http://x.example/t?  ", "http://x.example/t"),
    ],
)
def test_canonical_url_rebuilds_one_spelling(url: str, want: str) -> None:
    assert canonical_url(url) == want
    assert canonical_url(want) == want


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://forum.example/", "only http"),
        ("javascript:alert(1)", "only http"),
        ("file:///etc/passwd", "only http"),
        ("forum.example/t/1", "only http"),
        ("https://u:p@forum.example@127.0.0.1/", "user name or password"),
        ("http://user@forum.example/", "user name or password"),
        ("http://evil.example\\@forum.example/", "user name or password"),
        ("http://forum.example:99999/", "not a valid"),
        ("http://forum.example:0/", "port 0"),
        ("http:///t/1", "no host"),
        ("http://256.1.1.1/", "invalid IPv4"),
        ("http://1.2.3.4.5/", "invalid IPv4"),
        ("http://[fe80::1%25eth0]/", "scoped"),
        ("http://exa mple.com/", "invalid host"),
        ("http://a..b/", "invalid host"),
        ("http://x.example/" + "a" * 5000, "too long"),
    ],
)
def test_canonical_url_refuses(url: str, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        canonical_url(url)


_label = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9-]{0,10}", fullmatch=True)
_host = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.integers(0, 2**32 - 1).map(str),
    st.integers(0, 2**32 - 1).map(hex),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
    st.text(max_size=15),
)
_url = st.builds(
    lambda scheme, user, host, port, path, query, frag: (
        f"{scheme}://{user}{host}{port}{path}{query}{frag}"
    ),
    st.sampled_from(["http", "HTTPS", "ftp", "hTtP"]),
    st.sampled_from(["", "", "", "u:p@", "a@b@"]),
    _host,
    st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}")),
    st.text(max_size=30).map(lambda p: "/" + p),
    st.one_of(st.just(""), st.text(max_size=20).map(lambda q: "?" + q)),
    st.one_of(st.just(""), st.text(max_size=10).map(lambda f: "#" + f)),
)


@given(st.one_of(_url, st.text(max_size=60)))
def test_canonical_url_is_idempotent_and_safe_for_any_input(url: str) -> None:
    try:
        out = canonical_url(url)
    except SourceError:
        return
    parts = urlsplit(out)
    assert parts.scheme in ("http", "https")
    assert "@" not in parts.netloc and "#" not in out
    assert out.isascii() and not any(c.isspace() or ord(c) < 33 for c in out)
    assert parts.hostname and parts.path.startswith("/")
    assert canonical_url(out) == out


@given(st.integers(0, 2**32 - 1))
def test_every_inet_aton_spelling_reads_as_the_same_address(n: int) -> None:
    ip = ipaddress.IPv4Address(n)
    a, b, c, d = ip.packed
    for spelling in (
        str(n),
        hex(n),
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"0{a:o}.0x{b:x}.{c}.0{d:o}",
    ):
        assert parse_ipv4(spelling) == ip, spelling
        assert canonical_url(f"http://{spelling}/") == f"http://{ip}/"


# --- the address classifier -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("64:ff9b::5db8:d70e", True),  # NAT64 of a public address
        ("2002:5db8:d70e::1", True),  # 6to4 of a public address
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:0:a00:5", False),  # SIIT form of 10.0.0.5
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fc00::1", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
        ("100::1", False),
        ("64:ff9b:1::1", False),
    ],
)
def test_address_classifier(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@given(st.ip_addresses(v=4), st.integers(0, 2**80 - 1))
def test_ipv6_forms_are_judged_by_the_ipv4_address_they_carry(ip, suffix: int) -> None:
    ip = ipaddress.IPv4Address(ip)
    verdict = is_public_address(ip)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    six_to_four = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | suffix)
    assert is_public_address(mapped) is verdict
    assert is_public_address(nat64) is verdict
    assert is_public_address(six_to_four) is verdict
    if verdict:
        assert ip.is_global  # stricter than Python, never looser


@given(st.integers(0, 2**96 - 1))
def test_teredo_is_never_public(low: int) -> None:
    assert not is_public_address(ipaddress.IPv6Address((0x20010000 << 96) | low))


# --- refused with the switch off, and nothing reaches the listener -----------------------------

LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f.1:{port}/",
    "http://127.1:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://localhost.:{port}/",
    pytest.param("http://[::1]:{port6}/", marks=needs_v6),
]
NEVER_LOOPBACK = [
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://10.0.0.5/",
    "http://intranet.example:{port}/",
    "http://mixed.example:{port}/",
]


@pytest.mark.parametrize("template", LOOPBACK_FORMS + NEVER_LOOPBACK)
async def test_private_targets_are_refused_before_any_connection(
    template, make, server, server6, jail
) -> None:
    url = fill(template, server, server6)
    page = make().for_command()
    with pytest.raises(SourceError, match=PRIVATE):
        await page.get_text(url)
    assert server.connections == []
    assert server6 is None or server6.connections == []
    assert jail.attempts == []  # refused before a socket was even created


async def test_credentials_in_the_url_are_refused(make, server, jail) -> None:
    url = f"https://u:p@forum.example@127.0.0.1:{server.port}/"
    with pytest.raises(SourceError, match="user name or password"):
        await make().for_command().get_text(url)
    assert server.connections == [] and jail.attempts == []


@pytest.mark.parametrize("template", LOOPBACK_FORMS)
async def test_the_switch_lets_loopback_through(template, make, server, server6) -> None:
    server.route("/", Page(HTML.format("home")))
    url = fill(template, server, server6)
    page = await make(private=True).for_command().get_text(url)
    assert page.status == 200 and "<p>" in page.text
    assert page.url == canonical_url(url)
    target = server6 if "[::1]" in template else server
    assert target is not None and target.connections


async def test_the_connect_time_check_holds_when_the_earlier_checks_are_gone(
    monkeypatch, make, server, jail
) -> None:
    """IP literals skip the resolver; the socket factory is the last line and sees them."""

    async def unchecked(self, host: str, port: int) -> list[str]:
        return list(await self.resolver(host, port))

    monkeypatch.setattr(fetch_module._Guard, "check_host", lambda self, host: None)
    monkeypatch.setattr(fetch_module._Guard, "resolve", unchecked)
    fetcher = make()
    for url in (server.url("/"), f"http://localhost:{server.port}/", "http://[::1]:1/"):
        with pytest.raises(SourceError, match=PRIVATE):
            await fetcher.for_command().get_text(url)
    assert server.connections == [] and jail.attempts == []


# --- redirects --------------------------------------------------------------------------------


def public(server: LoopbackServer, path: str) -> str:
    return f"http://forum.example:{server.port}{path}"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{inner}/secret",
        "http://0x7f.1:{inner}/secret",
        "http://[::ffff:7f00:1]:{inner}/secret",
        "http://intranet.example:{inner}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{inner}/",
    ],
)
async def test_a_public_page_redirecting_inwards_is_refused(
    target, make, server, inner, jail
) -> None:
    server.route("/go", redirect(target.format(inner=inner.port)))
    with pytest.raises(SourceError, match=PRIVATE):
        await make().for_command().get_text(public(server, "/go"))
    assert server.hits("/go") == 1  # the public hop really happened...
    assert inner.connections == []  # ...the internal one never did
    assert {port for _, port in jail.attempts} == {server.port}


async def test_redirect_to_another_scheme_is_not_followed(make, server) -> None:
    server.route("/go", redirect("file:///etc/passwd"))
    with pytest.raises(SourceError, match="will not follow"):
        await make().for_command().get_text(public(server, "/go"))


def chain(server: LoopbackServer, hops: int) -> None:
    for i in range(hops):
        server.route(f"/r{i}", redirect(public(server, f"/r{i + 1}")))
    server.route(f"/r{hops}", Page(HTML.format("end")))


async def test_five_redirects_are_followed(make, server) -> None:
    chain(server, 5)
    page = await make().for_command().get_text(public(server, "/r0"))
    assert page.url == public(server, "/r5")


async def test_six_redirects_are_refused(make, server) -> None:
    chain(server, 6)
    with pytest.raises(SourceError, match="redirected more than 5 times"):
        await make().for_command().get_text(public(server, "/r0"))
    assert [server.hits(f"/r{i}") for i in range(7)] == [1, 1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("lookup_check", [True, False], ids=["as-is", "look-up-check-removed"])
async def test_dns_rebinding_to_loopback_is_refused(lookup_check, monkeypatch, make, jail) -> None:
    if not lookup_check:  # then only the connect-time check stands between us and loopback

        async def unchecked(self, host: str, port: int) -> list[str]:
            return list(await self.resolver(host, port))

        monkeypatch.setattr(fetch_module._Guard, "resolve", unchecked)
    resolver = StubResolver({"rebind.example": [PUBLIC_IP]})
    async with LoopbackServer(
        {"/1": Page(HTML.format(1)), "/2": Page(HTML.format(2))}, keep_alive=False
    ) as srv:
        fetcher = make(resolver=resolver)
        first = await fetcher.for_command().get_text(f"http://rebind.example:{srv.port}/1")
        assert first.status == 200
        seen = len(srv.connections)
        resolver.set("rebind.example", ["127.0.0.1"])  # TTL 0: the next look-up says loopback
        with pytest.raises(SourceError, match=PRIVATE):
            await fetcher.for_command().get_text(f"http://rebind.example:{srv.port}/2")
        assert len(srv.connections) == seen and srv.hits("/2") == 0
    assert all(host == PUBLIC_IP for host, _ in jail.attempts)


# --- size, time and type ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_decompression_bomb_stops_at_the_cap_with_bounded_memory(
    encoding, make, server
) -> None:
    zeros = b"\0" * (10 * MiB)
    body = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
    del zeros
    server.route(
        "/bomb", Page(body, content_type="text/html", headers={"Content-Encoding": encoding})
    )
    fetcher = make(private=True, max_page_bytes=MiB)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="the page is larger than 1 MB"):
            await fetcher.for_command().get_text(server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * MiB  # the bomb expands to 10 MB; the fetcher held at most ~the cap


async def test_the_default_cap_is_5_mb_and_a_declared_length_is_refused_early(make, server) -> None:
    server.route("/big", Page(b"a" * (6 * MiB)))
    with pytest.raises(SourceError, match=r"^the page is larger than 5 MB$"):
        await make(private=True).for_command().get_text(server.url("/big"))


async def test_a_compressed_page_under_the_cap_is_decoded(make, server) -> None:
    text = HTML.format("ünïcode " * 2000)
    server.route(
        "/z",
        Page(gzip.compress(text.encode()), headers={"Content-Encoding": "gzip"}),
    )
    page = await make(private=True).for_command().get_text(server.url("/z"))
    assert page.text == text
    assert server.requests[-1].headers["Accept-Encoding"] == "gzip, deflate"


async def test_an_unasked_for_encoding_is_refused(make, server) -> None:
    server.route("/br", Page(b"\x0b\x02\x80", headers={"Content-Encoding": "br"}))
    with pytest.raises(SourceError, match="'br'"):
        await make(private=True).for_command().get_text(server.url("/br"))


async def test_the_command_byte_budget_stops_a_long_thread(make, server) -> None:
    server.route("/p", Page(b"x" * 2000))
    command = make(private=True).for_command(max_total_bytes=3000)
    await command.get_text(server.url("/p"))
    with pytest.raises(SourceError, match="limit per command"):
        await command.get_text(server.url("/p"))
    assert command.bytes == 2000


async def test_a_1_byte_per_second_server_times_out(make, server) -> None:
    server.route("/slow", drip(every=1.0))
    fetcher = make(private=True, timeouts=Timeouts(total=5, connect=1, sock_read=0.3))
    with pytest.raises(SourceError, match=r"timed out after 0\.3 s"):
        await fetcher.for_command().get_text(server.url("/slow"))


async def test_a_trickle_is_cut_by_the_total_timeout(make, server) -> None:
    server.route("/trickle", drip(every=0.05))
    fetcher = make(private=True, timeouts=Timeouts(total=0.5, connect=0.5, sock_read=2))
    with pytest.raises(SourceError, match=r"timed out after 0\.5 s"):
        await fetcher.for_command().get_text(server.url("/trickle"))


async def test_an_image_is_refused_unparsed(make, server) -> None:
    server.route("/pic", Page(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000, content_type="image/png"))
    with pytest.raises(SourceError, match="is image/png, not a web page"):
        await make(private=True).for_command().get_text(server.url("/pic"))


async def test_json_and_html_are_each_only_what_was_asked_for(make, server) -> None:
    server.route("/t.json", Page(json.dumps({"posts": [1, 2]}), content_type="application/json"))
    server.route("/t", Page(HTML.format("page")))
    server.route("/bad.json", Page("{not json", content_type="application/json"))
    command = make(private=True).for_command()
    assert await command.get_json(server.url("/t.json")) == {"posts": [1, 2]}
    with pytest.raises(SourceError, match="not JSON"):
        await command.get_json(server.url("/t"))
    with pytest.raises(SourceError, match="not a web page"):
        await command.get_text(server.url("/t.json"))
    with pytest.raises(SourceError, match="did not answer with valid JSON"):
        await command.get_json(server.url("/bad.json"))


@pytest.mark.parametrize(
    ("body", "content_type", "want"),
    [
        ("café".encode("cp1252"), "text/html; charset=ISO-8859-1", "café"),
        (b'<meta charset="windows-1252"><p>caf\xe9', "text/html", "<p>café"),
        (b"\xef\xbb\xbf<p>caf\xc3\xa9", "text/html; charset=latin-1", "<p>café"),
        (b"<p>caf\xe9", "text/html", "<p>caf\ufffd"),
        (b"<p>caf\xc3\xa9", "text/html; charset=no-such-codec", "<p>café"),
    ],
)
async def test_charset_from_bom_header_or_meta_else_utf8_with_replacement(
    body, content_type, want, make, server
) -> None:
    server.route("/c", Page(body, content_type=content_type))
    page = await make(private=True).for_command().get_text(server.url("/c"))
    assert page.text.endswith(want)


# --- errors a chat user understands ------------------------------------------------------------


async def test_http_errors_and_dead_ports_are_explained(make, server) -> None:
    command = make(private=True).for_command()
    with pytest.raises(SourceError, match=r"^the forum answered 404 Not Found for http://127"):
        await command.get_text(server.url("/missing"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    with pytest.raises(SourceError, match=rf"^could not connect to 127\.0\.0\.1:{dead}$"):
        await command.get_text(f"http://127.0.0.1:{dead}/")
    with pytest.raises(SourceError, match="no such host"):
        await command.get_text("http://unknown.example/")


async def test_only_the_canonical_url_is_requested_and_returned(make, server) -> None:
    server.route("/page", Page(HTML.format("p")))
    page = (
        await make(private=True)
        .for_command()
        .get_text(f"HTTP://127.0.0.1:{server.port}/a/../page#comments")
    )
    assert page.url == server.url("/page")
    assert server.paths()[-1] == "/page"


async def test_user_agent_names_threadwise_and_its_url(make, server) -> None:
    server.route("/", Page(HTML.format("ua")))
    fetcher = make(private=True)
    await fetcher.for_command().get_text(server.url("/"))
    agents = {r.headers.get("User-Agent") for r in server.requests}
    assert agents == {fetcher.settings.user_agent}
    (agent,) = agents
    assert "threadwise" in agent and "https://" in agent


async def test_proxy_settings_in_the_environment_are_ignored(monkeypatch, make, server) -> None:
    async with LoopbackServer() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url("/"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        server.route("/", Page(HTML.format("direct")))
        page = await make(private=True).for_command().get_text(server.url("/"))
        assert "direct" in page.text and proxy.connections == []


# --- politeness -------------------------------------------------------------------------------


Answer = tuple[int, dict[str, str]]
OK: Answer = (200, {})


def flaky(*answers: Answer) -> Callable[[web.Request], object]:
    """A handler giving (status, headers) `answers` in turn, then repeating the last."""
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.Response:
        calls["n"] += 1
        status, headers = answers[min(calls["n"], len(answers)) - 1]
        text = HTML.format("ok") if status == 200 else "busy"
        return web.Response(status=status, text=text, content_type="text/html", headers=headers)

    return handler


def busy(status: int = 429, retry_after: str | None = None) -> Answer:
    return (status, {"Retry-After": retry_after} if retry_after is not None else {})


async def test_429_with_retry_after_then_200_succeeds_after_the_wait(make, server, clock) -> None:
    server.route("/t", flaky(busy(429, "1"), OK))
    page = await make(private=True).for_command().get_text(server.url("/t"))
    assert "ok" in page.text
    assert server.hits("/t") == 2 and clock.waits == [1.0]


async def test_retry_after_as_an_http_date(make, server, clock) -> None:
    when = email.utils.formatdate(WALL + 7, usegmt=True)
    server.route("/t", flaky(busy(503, when), OK))
    await make(private=True).for_command().get_text(server.url("/t"))
    assert clock.waits == [7.0]


async def test_a_retry_after_beyond_the_cap_fails_at_once(make, server, clock) -> None:
    server.route("/t", flaky(busy(429, "120")))
    with pytest.raises(SourceError, match="asked threadwise to wait 120 s"):
        await make(private=True).for_command().get_text(server.url("/t"))
    assert server.hits("/t") == 1 and clock.waits == []


async def test_503_backs_off_then_gives_up(make, server, clock) -> None:
    server.route("/t", flaky(busy(503)))
    with pytest.raises(SourceError, match="503 Service Unavailable"):
        await make(private=True).for_command().get_text(server.url("/t"))
    assert server.hits("/t") == 4 and clock.waits == [1.0, 2.0, 4.0]


async def test_at_most_two_connections_per_host_under_20_parallel_requests(make, server) -> None:
    server.route("/slow", Page(HTML.format("slow"), delay=0.05))
    fetcher = make(private=True)
    commands = [fetcher.for_command(), fetcher.for_command()]  # politeness is process-wide
    pages = await asyncio.gather(
        *(commands[i % 2].get_text(server.url("/slow")) for i in range(20))
    )
    assert len(pages) == 20 and server.hits("/slow") == 20
    assert server.max_in_flight == 2  # parallel, but never more than two at once
    assert server.max_open_connections <= 2
    assert server.hits("/robots.txt") == 1


async def test_requests_to_one_host_are_spaced_by_the_delay(make, server, clock) -> None:
    server.route("/t", Page(HTML.format("t")))
    command = make(private=True, per_host_delay=1.5).for_command()
    for _ in range(3):
        await command.get_text(server.url("/t"))
    assert clock.waits == [1.5, 1.5, 1.5]  # robots.txt, then three pages, one delay apart


async def test_the_page_cap_is_a_hard_backstop(make, server) -> None:
    for i in range(5):
        server.route(f"/p{i}", Page(HTML.format(i)))
    command = make(private=True).for_command(max_pages=3)
    for i in range(3):
        await command.get_text(server.url(f"/p{i}"))
    with pytest.raises(SourceError, match=r"^stopped after 3 pages \(the limit per command\)$"):
        await command.get_text(server.url("/p3"))
    assert server.hits("/p3") == 0 and command.pages == 3


async def test_the_default_page_cap_comes_from_settings(make) -> None:
    assert make(max_pages=7).for_command().max_pages == 7


# --- robots.txt -------------------------------------------------------------------------------


async def test_robots_disallow_is_obeyed_and_the_user_told_why(make, server) -> None:
    server.route("/robots.txt", Page("User-agent: *\nDisallow: /t/\n", content_type="text/plain"))
    server.route("/t/1", Page(HTML.format("thread")))
    server.route("/f/1", Page(HTML.format("forum")))
    command = make(private=True).for_command()
    with pytest.raises(SourceError, match=r"robots\.txt forbids threadwise to read"):
        await command.get_text(server.url("/t/1"))
    assert "forum" in (await command.get_text(server.url("/f/1"))).text
    assert server.hits("/t/1") == 0 and server.hits("/robots.txt") == 1


async def test_robots_rules_for_threadwise_by_name(make, server) -> None:
    rules = "User-agent: threadwise\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    server.route("/robots.txt", Page(rules, content_type="text/plain"))
    with pytest.raises(SourceError, match=r"robots\.txt forbids"):
        await make(private=True).for_command().get_text(server.url("/t/1"))
    assert server.paths() == ["/robots.txt"]


async def test_robots_503_means_nothing_is_fetched(make, server) -> None:
    server.route("/robots.txt", Page("down", status=503, content_type="text/plain"))
    server.route("/t/1", Page(HTML.format("thread")))
    with pytest.raises(SourceError, match=r"robots\.txt answered 503"):
        await make(private=True).for_command().get_text(server.url("/t/1"))
    assert set(server.paths()) == {"/robots.txt"}


async def test_robots_404_allows_everything_and_is_cached_for_at_most_a_day(
    make, server, clock
) -> None:
    server.route("/t/1", Page(HTML.format("thread")))
    command = make(private=True).for_command()
    await command.get_text(server.url("/t/1"))
    await command.get_text(server.url("/t/1"))
    assert server.hits("/robots.txt") == 1
    clock.now += 24 * 3600 + 1
    await command.get_text(server.url("/t/1"))
    assert server.hits("/robots.txt") == 2


def test_robots_status_rules_follow_rfc_9309() -> None:
    assert policy_for_answer(404, "").allows("http://f.example/t", "threadwise")
    assert policy_for_answer(403, "").allows("http://f.example/t", "threadwise")
    assert not policy_for_answer(500, "").allows("http://f.example/t", "threadwise")
    assert not policy_for_answer(429, "").allows("http://f.example/t", "threadwise")
    rules = policy_for_answer(200, "User-agent: *\nDisallow: /private\n")
    assert rules.allows("http://f.example/t", "threadwise/0.1 (+https://x.example)")
    assert not rules.allows("http://f.example/private/1", "threadwise/0.1")


async def test_robots_cache_fetches_once_for_simultaneous_requests() -> None:
    calls: list[str] = []

    async def load(origin: str) -> RobotsPolicy:
        calls.append(origin)
        await asyncio.sleep(0.01)
        return RobotsPolicy.everything()

    cache = RobotsCache(load)
    await asyncio.gather(*(cache.policy("http://f.example") for _ in range(10)))
    assert calls == ["http://f.example"]


# --- the jail itself --------------------------------------------------------------------------


def test_the_jail_refuses_non_loopback_before_connecting(jail) -> None:
    with socket.socket() as sock:  # never connected: check() is what the patched connect calls
        with pytest.raises(JailBreak):
            jail.check(sock, ("192.0.2.1", 80))
        assert jail.check(sock, ("127.0.0.1", 80)) == ("127.0.0.1", 80)
        assert jail.check(sock, (PUBLIC_IP, 8080)) == ("127.0.0.1", 8080)
    with pytest.raises(JailBreak):
        socket.getaddrinfo("forum.example", 80)
    jail.escapes.clear()
    jail.lookups.clear()
