from __future__ import annotations

import base64
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import idna
import pytest

from embeddings.errors import InputError, InputTooLarge
from embeddings.fetch import FetchedFile, fetch_url

Route = Callable[[BaseHTTPRequestHandler], None]
MB = 1024 * 1024
LOOPBACK = ("127.0.0.1",)


class Server:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(dict(self.headers.items()))
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class HTTPServer(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.httpd = HTTPServer((host, 0), Handler)
        self.port = self.httpd.server_port
        self.base = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def seen_hosts(self) -> list[str]:
        return [headers.get("Host", "") for headers in self.seen]

    def body(self, path: str, content: bytes, *, content_type: str = "image/png") -> None:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)

        self.routes[path] = route

    def redirect(self, path: str, location: str) -> None:
        def route(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(302)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        self.routes[path] = route


def serving(host: str = "127.0.0.1") -> Iterator[Server]:
    served = Server(host)
    thread = threading.Thread(target=served.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.httpd.shutdown()
        served.httpd.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serving()


@pytest.fixture
def server_v6() -> Iterator[Server]:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    yield from serving("::1")


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    # Names resolve only from this table; numeric spellings still go through the real parser.
    names: dict[str, list[str]] = {"localhost": ["127.0.0.1", "::1"]}
    real = socket.getaddrinfo

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if isinstance(host, str) and host.rstrip(".") in names:
            return [addrinfo(ip, port) for ip in names[host.rstrip(".")]]
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def addrinfo(ip: str, port: int) -> tuple[Any, ...]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # Fails the test outright if anything tries to connect beyond this machine.
    connected: list[str] = []
    real = socket.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not ipaddress.ip_address(address[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {address[0]}")
        connected.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return connected


def fetch(url: str, **options: Any) -> FetchedFile:
    return fetch_url(url, max_bytes=options.pop("max_bytes", MB), **options)


def fake_transport(
    monkeypatch: pytest.MonkeyPatch, answer: Callable[[httpx.Request], httpx.Response]
) -> list[httpx.Request]:
    """Requests go to `answer` instead of the network; returns the list of those sent."""
    sent: list[httpx.Request] = []

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    return sent


def test_fetch_allowlisted_loopback_returns_content(server: Server) -> None:
    server.body("/images/cat.png", b"png bytes")

    fetched = fetch(f"{server.base}/images/cat.png?size=large", allowlist=LOOPBACK)

    assert fetched == FetchedFile(
        content=b"png bytes",
        url=f"{server.base}/images/cat.png?size=large",
        content_type="image/png",
        filename="cat.png",
    )


def test_fetch_filename_empty_for_a_bare_path(server: Server) -> None:
    server.body("/", b"root")

    assert fetch(f"{server.base}/", allowlist=LOOPBACK).filename == ""


@pytest.mark.parametrize(
    ("host", "allowlist"),
    [
        ("127.0.0.1", ["127.0.0.0/8"]),
        ("127.0.0.1", [" 127.0.0.1 "]),
        ("localhost", ["localhost"]),
        ("LocalHost", ["LOCALHOST"]),
        ("localhost", ["127.0.0.0/8", "[::1]"]),
    ],
)
def test_fetch_allowlist_accepts_ips_cidrs_and_host_names(
    server: Server, host: str, allowlist: list[str]
) -> None:
    server.body("/a", b"x")

    assert fetch(f"http://{host}:{server.port}/a", allowlist=allowlist).content == b"x"


def test_fetch_allowlist_must_cover_every_resolved_address(server: Server) -> None:
    # localhost also resolves to ::1, which an allow-list of 127.0.0.1 alone does not cover.
    with pytest.raises(InputError, match="URL refused: localhost resolves to a loopback address"):
        fetch(f"http://localhost:{server.port}/a", allowlist=LOOPBACK)
    assert server.seen == []


def test_fetch_allowlisted_ipv6_loopback(server_v6: Server) -> None:
    server_v6.body("/v6.png", b"six")

    fetched = fetch(f"{server_v6.base}/v6.png", allowlist=("::1",))

    assert fetched.content == b"six"
    assert server_v6.seen_hosts == [f"[::1]:{server_v6.port}"]


def test_fetch_follows_redirects_and_reports_the_final_url(server: Server) -> None:
    server.redirect("/old/a.png", "../new/b.png")
    server.redirect("/new/b.png", f"{server.base}/final.png")
    server.body("/final.png", b"moved")

    fetched = fetch(f"{server.base}/old/a.png", allowlist=LOOPBACK)

    assert fetched.content == b"moved"
    assert fetched.url == f"{server.base}/final.png"
    assert fetched.filename == "a.png"
    assert len(server.seen) == 3


def test_fetch_too_many_redirects(server: Server) -> None:
    for hop in range(4):
        server.redirect(f"/{hop}", f"/{hop + 1}")
    server.body("/4", b"end")

    with pytest.raises(InputError, match=r"too many redirects \(more than 3\)"):
        fetch(f"{server.base}/0", allowlist=LOOPBACK, max_redirects=3)
    assert len(server.seen) == 4
    assert fetch(f"{server.base}/0", allowlist=LOOPBACK, max_redirects=4).content == b"end"


def test_fetch_zero_redirects_allowed(server: Server) -> None:
    server.redirect("/a", "/b")

    with pytest.raises(InputError, match="too many redirects"):
        fetch(f"{server.base}/a", allowlist=LOOPBACK, max_redirects=0)


def test_fetch_http_error_status(server: Server) -> None:
    with pytest.raises(InputError, match="HTTP 404") as raised:
        fetch(f"{server.base}/missing", allowlist=LOOPBACK)
    assert type(raised.value) is InputError


def test_fetch_connects_to_the_checked_address_with_the_original_host(
    server: Server, fake_dns: dict[str, list[str]], loopback_only: list[str]
) -> None:
    fake_dns["pinned.test"] = ["127.0.0.1"]
    server.body("/x", b"pinned")

    fetched = fetch(f"http://pinned.test:{server.port}/x", allowlist=LOOPBACK)

    assert fetched.content == b"pinned"
    assert fetched.url == f"http://pinned.test:{server.port}/x"
    assert server.seen_hosts == [f"pinned.test:{server.port}"]
    assert loopback_only == ["127.0.0.1"]


def test_fetch_pins_a_public_name_and_keeps_it_for_tls(
    monkeypatch: pytest.MonkeyPatch, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["media.example"] = ["93.184.215.14"]
    sent = fake_transport(
        monkeypatch,
        lambda request: httpx.Response(200, headers={"Content-Type": "audio/wav"}, content=b"RIFF"),
    )

    fetched = fetch("https://media.example/clips/a.wav")

    assert fetched == FetchedFile(
        content=b"RIFF",
        url="https://media.example/clips/a.wav",
        content_type="audio/wav",
        filename="a.wav",
    )
    (request,) = sent
    assert str(request.url) == "https://93.184.215.14/clips/a.wav"
    assert request.headers["host"] == "media.example"
    assert request.extensions["sni_hostname"] == "media.example"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3/",
        "http://127.1/",
        "http://localhost/",
        "http://localhost./",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        # IPv6 forms that carry an IPv4 address: translated, NAT64, compatible, 6to4, Teredo.
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b::10.0.0.1]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b:1::808:808]/",
        "http://[::127.0.0.1]/",
        "http://[::8.8.8.8]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2002:808:808::1]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[fec0::1]/",
        "http://[ff02::1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://017700000001/",
        "https://127.0.0.1:8443/",
        "http://user:pass@10.0.0.1/",
    ],
)
def test_fetch_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(InputError, match=r"^URL refused: ") as raised:
        fetch(url)
    assert "pass" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1/", "URL refused: 127.0.0.1 is a loopback address."),
        ("http://2130706433/", "URL refused: 2130706433 resolves to a loopback address."),
        ("http://[::1]/", "URL refused: ::1 is a loopback address."),
        ("http://192.168.1.1/", "URL refused: 192.168.1.1 is a private address."),
        ("http://0.0.0.0/", "URL refused: 0.0.0.0 is the unspecified address."),
        ("http://100.64.0.1/", "URL refused: 100.64.0.1 is a non-public address."),
        (
            "http://169.254.169.254/",
            "URL refused: 169.254.169.254 is a link-local address"
            " (such as a cloud metadata service).",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/",
            "URL refused: 64:ff9b::a9fe:a9fe is a link-local address"
            " (such as a cloud metadata service).",
        ),
        ("http://[::ffff:0:10.1.2.3]/", "URL refused: ::ffff:0:10.1.2.3 is a private address."),
        (
            "http://[2002:a9fe:a9fe::1]/",
            "URL refused: 2002:a9fe:a9fe::1 is an IPv6 transition address"
            " (6to4, Teredo, local NAT64 or IPv4-compatible).",
        ),
    ],
)
def test_fetch_refusal_messages(url: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        fetch(url)
    assert str(raised.value) == message


def test_fetch_refuses_a_name_that_resolves_to_a_private_address(
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["internal.test"] = ["10.1.2.3"]

    with pytest.raises(InputError) as raised:
        fetch("http://internal.test/secret.png")
    # The private address itself is not told to the caller.
    assert str(raised.value) == "URL refused: internal.test resolves to a private address."


def test_fetch_refuses_a_name_with_any_private_address(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["mixed.test"] = ["93.184.215.14", "10.1.2.3"]

    with pytest.raises(InputError, match=r"URL refused: mixed\.test resolves to a private"):
        fetch("http://mixed.test/a.png")


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("64:ff9b::a9fe:a9fe", "a link-local address"),
        ("64:ff9b::a00:1", "a private address"),
        ("::ffff:0:7f00:1", "a loopback address"),
        ("64:ff9b:1::5db8:d70e", "an IPv6 transition address"),
        ("2002:a00:1::1", "an IPv6 transition address"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "an IPv6 transition address"),
        ("::a9fe:a9fe", "an IPv6 transition address"),
    ],
)
def test_fetch_refuses_a_name_whose_ipv6_answer_carries_an_internal_ipv4_address(
    fake_dns: dict[str, list[str]], answer: str, kind: str
) -> None:
    fake_dns["dual.test"] = ["93.184.215.14", answer]

    with pytest.raises(InputError) as raised:
        fetch("http://dual.test/a.png")
    assert str(raised.value).startswith(f"URL refused: dual.test resolves to {kind}")


def test_fetch_reaches_a_public_ipv4_host_through_nat64(
    monkeypatch: pytest.MonkeyPatch, fake_dns: dict[str, list[str]]
) -> None:
    # On an IPv6-only network DNS64 answers this way for every IPv4-only site.
    fake_dns["v4only.example"] = ["64:ff9b::5db8:d70e"]
    sent = fake_transport(monkeypatch, lambda request: httpx.Response(200, content=b"GIF89a"))

    assert fetch("http://v4only.example/a.gif").content == b"GIF89a"
    assert str(sent[0].url) == "http://[64:ff9b::5db8:d70e]/a.gif"


def test_fetch_unknown_name() -> None:
    with pytest.raises(InputError, match=r"could not resolve the URL's host nowhere\.test\."):
        fetch("http://nowhere.test/a.png")


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "//169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    ],
)
def test_fetch_refuses_a_redirect_to_a_metadata_address(server: Server, location: str) -> None:
    server.redirect("/innocent.png", location)

    with pytest.raises(InputError, match=r"URL refused: \S+ is a link-local address"):
        fetch(f"{server.base}/innocent.png", allowlist=LOOPBACK)
    assert len(server.seen) == 1


def test_fetch_refuses_a_redirect_from_a_public_name_to_loopback(
    server: Server, fake_dns: dict[str, list[str]]
) -> None:
    # The allow-list lets the test reach "public.example" on loopback by name only,
    # so a redirect to the bare loopback address must still be refused.
    fake_dns["public.example"] = ["127.0.0.1"]
    server.redirect("/a.png", f"http://127.0.0.1:{server.port}/admin")

    with pytest.raises(InputError, match=r"URL refused: 127\.0\.0\.1 is a loopback address"):
        fetch(f"http://public.example:{server.port}/a.png", allowlist=("public.example",))
    assert len(server.seen) == 1


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/a.png"])
def test_fetch_refuses_a_redirect_to_another_scheme(server: Server, location: str) -> None:
    server.redirect("/a.png", location)

    with pytest.raises(InputError, match=r"URL scheme '(file|ftp)' is not allowed"):
        fetch(f"{server.base}/a.png", allowlist=LOOPBACK)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("ftp://example.com/x", "ftp"),
        ("gopher://", "gopher"),
        ("gopher://example.com/", "gopher"),
        ("data:,x", "data"),
        ("javascript:alert(1)", "javascript"),
    ],
)
def test_fetch_refuses_other_schemes(url: str, scheme: str) -> None:
    with pytest.raises(InputError) as raised:
        fetch(url)
    assert str(raised.value) == f"URL scheme '{scheme}' is not allowed; use http or https."


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "must start with http"),
        ("/relative/path.png", "must start with http"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://exa mple.com/", "could not resolve"),
        ("http://example.com:99999/", "port is not valid"),
        ("http://example.com/\n", "not valid"),
    ],
)
def test_fetch_refuses_malformed_urls(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        fetch(url)


def test_fetch_refuses_a_declared_length_over_the_cap(server: Server) -> None:
    server.body("/big", b"x" * 5000)

    with pytest.raises(InputTooLarge, match=r"^the file at the URL is larger than 1000 bytes\.$"):
        fetch(f"{server.base}/big", allowlist=LOOPBACK, max_bytes=1000)


def test_fetch_accepts_a_body_exactly_at_the_cap(server: Server) -> None:
    server.body("/exact", b"x" * 1000)

    assert len(fetch(f"{server.base}/exact", allowlist=LOOPBACK, max_bytes=1000).content) == 1000


@pytest.mark.parametrize("chunked", [False, True])
def test_fetch_stops_reading_a_body_without_length_at_the_cap(
    server: Server, chunked: bool
) -> None:
    sent: list[int] = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        if chunked:
            handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        block = b"y" * 1024
        frame = b"400\r\n" + block + b"\r\n" if chunked else block
        try:
            for _ in range(10_000):
                handler.wfile.write(frame)
                sent.append(len(block))
        except OSError:
            pass
        handler.close_connection = True

    server.routes["/stream"] = endless

    with pytest.raises(InputTooLarge, match="larger than 65536 bytes"):
        fetch(f"{server.base}/stream", allowlist=LOOPBACK, max_bytes=64 * 1024)
    assert sum(sent) < 10_000 * 1024


def test_fetch_reads_no_more_than_a_lying_small_content_length(server: Server) -> None:
    def liar(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "10")
        handler.end_headers()
        handler.wfile.write(b"z" * 5000)

    server.routes["/liar"] = liar

    fetched = fetch(f"{server.base}/liar", allowlist=LOOPBACK, max_bytes=100)

    assert fetched.content == b"z" * 10


def test_fetch_reports_a_body_shorter_than_its_content_length(server: Server) -> None:
    def short(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "500")
        handler.end_headers()
        handler.wfile.write(b"z" * 10)

    server.routes["/short"] = short

    with pytest.raises(InputError, match=r"^could not fetch the URL: the server sent an invalid"):
        fetch(f"{server.base}/short", allowlist=LOOPBACK)


def test_fetch_refuses_a_compressed_response(server: Server) -> None:
    def gzipped(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", "3")
        handler.end_headers()
        handler.wfile.write(b"abc")

    server.routes["/bomb.gz"] = gzipped

    with pytest.raises(InputError, match=r"compressed \(gzip\)"):
        fetch(f"{server.base}/bomb.gz", allowlist=LOOPBACK)
    assert server.seen[0]["Accept-Encoding"] == "identity"


def test_fetch_gives_up_on_a_server_that_drips(server: Server) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"z")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    server.routes["/slow"] = drip
    started = time.monotonic()

    with pytest.raises(InputError, match=r"^could not fetch the URL: timed out\.$"):
        fetch(f"{server.base}/slow", allowlist=LOOPBACK, timeout_sec=1.0)
    assert time.monotonic() - started < 2


def test_fetch_deadline_covers_the_whole_redirect_chain(server: Server) -> None:
    def slow_redirect(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.4)
        handler.send_response(302)
        handler.send_header("Location", "/slow")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/slow"] = slow_redirect
    started = time.monotonic()

    with pytest.raises(InputError, match="timed out"):
        fetch(f"{server.base}/slow", allowlist=LOOPBACK, timeout_sec=1.0, max_redirects=20)
    assert time.monotonic() - started < 2


def test_fetch_gives_up_on_a_server_that_never_answers() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()

        with pytest.raises(InputError, match="timed out"):
            fetch(
                f"http://127.0.0.1:{silent.getsockname()[1]}/",
                allowlist=LOOPBACK,
                timeout_sec=1.0,
            )
        assert time.monotonic() - started < 2


def test_fetch_deadline_holds_when_the_response_starts_just_before_it(server: Server) -> None:
    released = threading.Event()

    def late_then_stalled(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.8)
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.flush()
        released.wait(10)

    server.routes["/late"] = late_then_stalled
    started = time.monotonic()

    try:
        with pytest.raises(InputError, match="timed out"):
            fetch(f"{server.base}/late", allowlist=LOOPBACK, timeout_sec=1.0)
        # The body's read timeout alone would have allowed another second.
        assert time.monotonic() - started < 1.5
    finally:
        released.set()


@pytest.fixture
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """DNS answers (that it failed) only once the event is set, or when the test ends."""
    released = threading.Event()

    def hanging_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        released.wait(10)
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    yield released
    released.set()


def test_fetch_deadline_covers_a_dns_lookup_that_never_answers(
    hanging_dns: threading.Event,
) -> None:
    with pytest.raises(InputError, match="timed out"):
        fetch("http://slow-dns.example/cat.png", timeout_sec=0.5)


def test_fetch_reports_a_refused_connection() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    with pytest.raises(InputError, match=r"^could not fetch the URL: could not connect"):
        fetch(f"http://127.0.0.1:{port}/", allowlist=LOOPBACK)


def test_fetch_reports_a_failed_tls_handshake(server: Server) -> None:
    with pytest.raises(InputError, match=r"secure \(TLS\) connection failed"):
        fetch(f"https://127.0.0.1:{server.port}/", allowlist=LOOPBACK)


def test_fetch_sends_credentials_without_logging_or_returning_them(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    server.body("/private.png", b"ok")
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")

    fetched = fetch(f"http://alice:s3cret@127.0.0.1:{server.port}/private.png", allowlist=LOOPBACK)

    assert fetched.url == f"{server.base}/private.png"
    expected = base64.b64encode(b"alice:s3cret").decode()
    assert server.seen[0]["Authorization"] == f"Basic {expected}"
    assert "send_request_headers" in caplog.text
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("location", "message"),
    [
        # A browser reads "http:x" relative to the current URL, and so does the fetch.
        ("http:x", r"^the URL returned HTTP 404\.$"),
        ("mailto:x", r"^URL scheme 'mailto' is not allowed"),
        ("data:", r"^URL scheme 'data' is not allowed"),
        ("data:,x", r"^URL scheme 'data' is not allowed"),
        ("https:x", r"^the URL has no host\.$"),
        ("http://xn--/x", r"^could not resolve the URL's host xn--\.$"),
        ("https://xn--zz/", r"^could not resolve the URL's host xn--zz\.$"),
        ("http://[::1", r"^the URL redirected to an invalid URL\.$"),
    ],
)
def test_fetch_redirect_to_an_odd_location_is_an_input_error(
    server: Server, location: str, message: str
) -> None:
    server.redirect("/a.png", location)

    with pytest.raises(InputError, match=message):
        fetch(f"{server.base}/a.png", allowlist=LOOPBACK)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.InvalidURL("bad"),
        httpx.LocalProtocolError("bad"),
        idna.IDNAError("bad label"),
        UnicodeError("bad"),
        ConnectionResetError("reset"),
        ssl.SSLEOFError("eof"),
        socket.gaierror(-2, "Name or service not known"),
    ],
)
def test_fetch_turns_any_network_or_url_failure_into_an_input_error(
    monkeypatch: pytest.MonkeyPatch, fake_dns: dict[str, list[str]], failure: Exception
) -> None:
    fake_dns["media.example"] = ["93.184.215.14"]

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    fake_transport(monkeypatch, fail)

    with pytest.raises(InputError, match=r"^could not fetch the URL: "):
        fetch("https://media.example/a.png")


def test_fetch_on_done_runs_once_when_the_fetch_itself_ends(server: Server) -> None:
    server.body("/a.png", b"x")
    calls: list[str] = []

    fetch(f"{server.base}/a.png", allowlist=LOOPBACK, on_done=lambda: calls.append("done"))
    with pytest.raises(InputError):
        fetch(f"{server.base}/missing", allowlist=LOOPBACK, on_done=lambda: calls.append("done"))

    assert calls == ["done", "done"]


def test_fetch_on_done_waits_for_a_given_up_fetch_to_end(hanging_dns: threading.Event) -> None:
    # The caller stops waiting at the deadline; the fetch's thread runs on until DNS answers.
    done = threading.Event()

    with pytest.raises(InputError, match="timed out"):
        fetch("http://slow-dns.example/cat.png", timeout_sec=0.5, on_done=done.set)
    assert not done.is_set()

    hanging_dns.set()
    assert done.wait(10)
