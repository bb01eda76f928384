from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from bench.models import model_directory
from bench.processes import app_processes
from bench.proxy import nginx_proxy
from bench.scratch import scratch_database
from embeddings.keys import api_key_create

SLOW_CLIENTS = 8
# The trickled image: a byte every half second, so each fetch runs into the 20 s fetch timeout.
TRICKLE_INTERVAL_SEC = 0.5
# Each slow-fetch client starts a call every 20 s: 24 a minute for eight, under any key's limit.
FETCH_CALL_INTERVAL_SEC = 20.0
# The dripped body: a byte a second of a 10 MB upload, never finished.
BODY_DRIP_INTERVAL_SEC = 1.0
DECLARED_BODY_BYTES = 10_000_000
PROBE_INTERVAL_SEC = 0.5
PROBE_TIMEOUT_SEC = 20.0


@dataclass(frozen=True)
class Setup:
    name: str
    gunicorn_options: tuple[str, ...] = ()  # () is deploy/gunicorn.conf.py, as `make run`
    env: dict[str, str] = field(default_factory=dict)
    proxied: bool = False


SETUPS = (
    # The server before this benchmark: `make run`'s old command line, and no fetch bound but
    # the 16 threads of the fetch pool.
    Setup(
        name="before: gunicorn --workers 1 --threads 8, URL fetches unbounded",
        gunicorn_options=("--workers", "1", "--threads", "8", "--timeout", "300"),
        env={
            "EMBEDDINGS_FETCH_MAX_CONCURRENT": "16",
            "EMBEDDINGS_FETCH_MAX_CONCURRENT_PER_KEY": "16",
        },
    ),
    Setup(name="now: deploy/gunicorn.conf.py, URL fetches bounded (defaults)"),
    Setup(name="now, behind nginx with deploy/nginx/proxy.conf", proxied=True),
)


def run(*, seconds: int, clients: int = SLOW_CLIENTS) -> dict[str, Any]:
    """GET / latency while slow clients hold the server: gunicorn as before, as now, and behind
    the nginx proxy of docker-compose.yml."""
    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    with (
        tempfile.TemporaryDirectory() as data_dir,
        scratch_database(),
        trickling_server() as image_url,
    ):
        keys = [api_key_create(name=f"slow-{index}")[1] for index in range(clients)]
        attack = Attack(image_url=image_url, keys=keys)
        runs = []
        for index, setup in enumerate(SETUPS):
            directory = Path(data_dir) / str(index)
            with app_processes(directory) as processes:
                _, app = processes.web(
                    *setup.gunicorn_options,
                    EMBEDDINGS_URL_ALLOWLIST="127.0.0.1",
                    TRUSTED_PROXY_COUNT="1",
                    **setup.env,
                )
                with serving(app, proxied=setup.proxied, directory=directory / "nginx") as base:
                    runs.append({"server": setup.name, **attack.measure(base, seconds=seconds)})
    return {
        "slow_body_clients": clients,
        "slow_body": f"POST /v1.3/embed declaring {DECLARED_BODY_BYTES} bytes, then one byte "
        f"every {BODY_DRIP_INTERVAL_SEC:g} s",
        "slow_fetch_clients": clients,
        "slow_fetch": "POST /v1.3/embed with an image_url that sends a byte every "
        f"{TRICKLE_INTERVAL_SEC:g} s (the fetch times out after 20 s); each client with its own "
        f"key, one call every {FETCH_CALL_INTERVAL_SEC:g} s",
        "probe": f"GET / started every {PROBE_INTERVAL_SEC:g} s for {seconds} s while both "
        f"kinds of clients run; a probe timed out after {PROBE_TIMEOUT_SEC:g} s counts as that",
        "model": "the tests' tiny random model",
        "runs": runs,
    }


@contextmanager
def serving(app: str, *, proxied: bool, directory: Path) -> Iterator[str]:
    if not proxied:
        yield app
        return
    with nginx_proxy(app, directory=directory) as base:
        yield base


class Attack:
    def __init__(self, *, image_url: str, keys: list[str]) -> None:
        self.image_url = image_url
        self.keys = keys

    def measure(self, base: str, *, seconds: int) -> dict[str, Any]:
        # The model is loaded, so that every slow fetch starts at once.
        httpx.post(
            base + "/v1.3/embed",
            headers={"x-api-key": self.keys[0]},
            data={"model_name": "embeddinggemma-2", "text": "warm up"},
            timeout=120,
        ).raise_for_status()
        stop = threading.Event()
        fetch_answers: Counter[str] = Counter()
        body_connections: Counter[str] = Counter()
        for key in self.keys:
            # Daemon threads: a fetch still running at the end is cut when the server stops.
            for target, counts in (
                (self._slow_fetches, fetch_answers),
                (self._slow_body, body_connections),
            ):
                threading.Thread(target=target, args=(base, key, stop, counts), daemon=True).start()
        try:
            time.sleep(2)  # every slow client has connected and holds what it can
            latencies = _probe(base, seconds=seconds)
        finally:
            stop.set()
        return {
            "get_root_ms": _percentiles(latencies),
            "probes": len(latencies),
            "probes_timed_out": sum(latency >= PROBE_TIMEOUT_SEC for latency in latencies),
            "slow_fetch_answers": dict(sorted(fetch_answers.items())),
            "slow_body_connections": dict(body_connections),
        }

    def _slow_fetches(
        self, base: str, key: str, stop: threading.Event, answers: Counter[str]
    ) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = httpx.post(
                    base + "/v1.3/embed",
                    headers={"x-api-key": key},
                    data={"model_name": "embeddinggemma-2", "image_url": self.image_url},
                    timeout=60,
                )
                answers[str(response.status_code)] += 1
            except httpx.HTTPError as error:
                answers[type(error).__name__] += 1
            stop.wait(max(0.0, started + FETCH_CALL_INTERVAL_SEC - time.monotonic()))

    def _slow_body(
        self, base: str, key: str, stop: threading.Event, connections: Counter[str]
    ) -> None:
        address = urlsplit(base)
        head = (
            "POST /v1.3/embed HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\n"
            f"x-api-key: {key}\r\n"
            "Content-Type: multipart/form-data; boundary=drip\r\n"
            f"Content-Length: {DECLARED_BODY_BYTES}\r\n\r\n"
        ).encode()
        while not stop.is_set():
            try:
                with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
                    connections["opened"] += 1
                    sock.sendall(head)
                    while not stop.wait(BODY_DRIP_INTERVAL_SEC):
                        sock.sendall(b"x")
            except OSError:
                connections["cut by the server"] += 1
                stop.wait(BODY_DRIP_INTERVAL_SEC)


def _probe(base: str, *, seconds: int) -> list[float]:
    """GET / at a fixed rate, each on its own thread, so a stalled answer delays no other probe."""
    count = max(1, int(seconds / PROBE_INTERVAL_SEC))
    with ThreadPoolExecutor(max_workers=count) as probes:
        futures = []
        for _ in range(count):
            futures.append(probes.submit(_timed_get, base + "/"))
            time.sleep(PROBE_INTERVAL_SEC)
        return [future.result() for future in futures]


def _timed_get(url: str) -> float:
    started = time.perf_counter()
    try:
        httpx.get(url, timeout=PROBE_TIMEOUT_SEC).raise_for_status()
    except httpx.TimeoutException:
        return PROBE_TIMEOUT_SEC
    return time.perf_counter() - started


def _percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else []
    p95 = cuts[18] if cuts else latencies[0]
    return {
        "p50": round(statistics.median(latencies) * 1000, 1),
        "p95": round(p95 * 1000, 1),
        "max": round(max(latencies) * 1000, 1),
    }


@contextmanager
def trickling_server() -> Iterator[str]:
    """A loopback server whose image arrives a byte at a time; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(TRICKLE_INTERVAL_SEC)
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/slow.png"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
