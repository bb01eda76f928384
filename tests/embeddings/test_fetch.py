from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from embeddings.errors import InputError, InputTooLarge
from embeddings.fetch import fetch_url

Route = Callable[[BaseHTTPRequestHandler], None]
MB = 1024 * 1024


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen_hosts: list[str] = []
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                server.seen_hosts.append(self.headers.get("Host", ""))
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.base = f"http://127.0.0.1:{self.port}"

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


@pytest.fixture
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()
    thread.join()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Made-up names resolve to the address given here; no test asks a real DNS server."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in names:
            family = socket.AF_INET6 if ":" in names[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (names[host], port))]
        if host.endswith(".test") or host.endswith(".example"):
            raise socket.gaierror(socket.EAI_NONAME, "no such name")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def fetch(url: str, **options: Any) -> Any:
    return fetch_url(url, max_bytes=options.pop("max_bytes", MB), **options)


def test_fetch_allowlisted_loopback_returns_content(server: Server) -> None:
    server.body("/images/cat.png", b"png bytes")

    fetched = fetch(f"{server.base}/images/cat.png?size=large", allowlist=("127.0.0.1",))

    assert fetched.content == b"png bytes"
    assert fetched.content_type == "image/png"
    assert fetched.filename == "cat.png"
    assert fetched.url == f"{server.base}/images/cat.png?size=large"


@pytest.mark.parametrize("entry", ["127.0.0.0/8", "localhost", "LOCALHOST"])
def test_fetch_allowlist_accepts_cidrs_and_host_names(server: Server, entry: str) -> None:
    server.body("/a", b"x")
    host = "localhost" if "localhost" in entry.lower() else "127.0.0.1"

    assert fetch(f"http://{host}:{server.port}/a", allowlist=(entry,)).content == b"x"


def test_fetch_follows_redirects_and_reports_the_final_url(server: Server) -> None:
    server.redirect("/old", "/new")
    server.body("/new", b"moved")

    fetched = fetch(f"{server.base}/old", allowlist=("127.0.0.1",))

    assert fetched.content == b"moved"
    assert fetched.url == f"{server.base}/new"
    assert fetched.filename == "old"


def test_fetch_too_many_redirects(server: Server) -> None:
    for hop in range(4):
        server.redirect(f"/{hop}", f"/{hop + 1}")
    server.body("/4", b"end")

    with pytest.raises(InputError, match="too many redirects"):
        fetch(f"{server.base}/0", allowlist=("127.0.0.1",), max_redirects=3)
    assert fetch(f"{server.base}/0", allowlist=("127.0.0.1",), max_redirects=4).content == b"end"


def test_fetch_http_error_status(server: Server) -> None:
    with pytest.raises(InputError, match="HTTP 404"):
        fetch(f"{server.base}/missing", allowlist=("127.0.0.1",))


def test_fetch_connects_to_the_checked_address_with_the_original_host(
    server: Server, fake_dns: dict[str, str]
) -> None:
    fake_dns["pinned.test"] = "127.0.0.1"
    server.body("/x", b"pinned")

    fetched = fetch(f"http://pinned.test:{server.port}/x", allowlist=("127.0.0.1",))

    assert fetched.content == b"pinned"
    assert server.seen_hosts == [f"pinned.test:{server.port}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
    ],
)
def test_fetch_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(InputError, match="URL refused"):
        fetch(url)


def test_fetch_refuses_a_name_that_resolves_to_a_private_address(fake_dns: dict[str, str]) -> None:
    fake_dns["internal.test"] = "10.1.2.3"

    with pytest.raises(InputError, match=r"URL refused: internal\.test resolves to 10\.1\.2\.3"):
        fetch("http://internal.test/secret.png")


def test_fetch_refuses_a_redirect_to_a_metadata_address(server: Server) -> None:
    server.redirect("/innocent.png", "http://169.254.169.254/latest/meta-data/")

    with pytest.raises(InputError, match=r"169\.254\.169\.254"):
        fetch(f"{server.base}/innocent.png", allowlist=("127.0.0.1",))
    assert server.requests == 1


def test_fetch_refuses_a_redirect_from_a_public_name_to_loopback(
    server: Server, fake_dns: dict[str, str]
) -> None:
    # "public.example" stands for a public host; the allow-list lets the test reach it on loopback
    # by name only, so the redirect to the bare loopback address must still be refused.
    fake_dns["public.example"] = "127.0.0.1"
    server.redirect("/a.png", f"http://127.0.0.1:{server.port}/admin")

    with pytest.raises(InputError, match="loopback"):
        fetch(f"http://public.example:{server.port}/a.png", allowlist=("public.example",))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://example.com/", "data:,x"]
)
def test_fetch_refuses_other_schemes(url: str) -> None:
    with pytest.raises(InputError, match=r"scheme|not valid"):
        fetch(url)


@pytest.mark.parametrize("url", ["not a url", "http://", "http:///path"])
def test_fetch_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(InputError):
        fetch(url)


def test_fetch_refuses_a_declared_length_over_the_cap(server: Server) -> None:
    server.body("/big", b"x" * 5000)

    with pytest.raises(InputTooLarge, match="larger than 1000 bytes"):
        fetch(f"{server.base}/big", allowlist=("127.0.0.1",), max_bytes=1000)


def test_fetch_stops_reading_a_body_without_length_at_the_cap(server: Server) -> None:
    sent = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(10_000):
                handler.wfile.write(b"y" * 1024)
                sent.append(1024)
        except (BrokenPipeError, ConnectionResetError):
            pass

    server.routes["/stream"] = endless

    with pytest.raises(InputTooLarge):
        fetch(f"{server.base}/stream", allowlist=("127.0.0.1",), max_bytes=64 * 1024)
    assert sum(sent) < 10_000 * 1024


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
        except (BrokenPipeError, ConnectionResetError):
            pass

    server.routes["/slow"] = drip
    started = time.monotonic()

    with pytest.raises(InputError, match="timed out"):
        fetch(f"{server.base}/slow", allowlist=("127.0.0.1",), timeout_sec=1.0)
    assert time.monotonic() - started < 3


def test_fetch_gives_up_on_a_server_that_never_answers() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        started = time.monotonic()
        with pytest.raises(InputError, match="timed out"):
            fetch(
                f"http://127.0.0.1:{silent.getsockname()[1]}/",
                allowlist=("127.0.0.1",),
                timeout_sec=1.0,
            )
        assert time.monotonic() - started < 3
    finally:
        silent.close()
