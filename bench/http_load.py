from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings

from bench.models import model_directory
from bench.scratch import database_url, scratch_database
from bench.synthetic import Generator
from bench.vector_search import load
from embeddings.engine.registry import get_model

ROOT = Path(__file__).resolve().parent.parent
SEARCH_PATH = "/search/results?q=a+red+car+at+night"
# Every request asks something new, so the server's query-vector cache never answers.
DISTINCT_QUERIES = """
request = function()
  return wrk.format("GET", "/search/results?q=a+red+car+number+" .. math.random(1, 1000000000))
end
"""
SERVER_START_TIMEOUT_SEC = 120.0
# The server as `make run` starts it.
GUNICORN_ARGUMENTS = ["--workers", "1", "--threads", "8", "--timeout", "120"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def web_server(data_dir: Path) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATA_DIR": str(data_dir),
        "EMBEDDINGS_MODEL": settings.EMBEDDINGS_MODEL,
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn), "searchapp.wsgi", "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGUMENTS]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + SEARCH_PATH, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SEC
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the web server exited")
        try:
            if httpx.get(url, timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {SERVER_START_TIMEOUT_SEC} s")


def wrk(url: str, *, clients: int, seconds: int, script: Path) -> dict[str, Any]:
    threads = min(clients, 2)
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency"]
    command += ["--script", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {"clients": clients, "seconds": seconds, **parse_wrk(output)}


def parse_wrk(output: str) -> dict[str, Any]:
    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else 0.0

    def milliseconds(percent: int) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            raise ValueError(f"no {percent}% latency in wrk output:\n{output}")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return round(float(match.group(1)) * scale, 2)

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "requests": int(number(r"(\d+) requests in")),
        "requests_per_sec": number(r"Requests/sec:\s+([\d.]+)"),
        "latency_ms": {f"p{p}": milliseconds(p) for p in (50, 90, 99)},
        "non_2xx_responses": int(number(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    }


def run(*, items: int, seconds: int) -> dict[str, Any]:
    """wrk against the search results page, served by gunicorn as `make run` serves it."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    settings.EMBEDDINGS_MODEL = str(model_directory("tiny"))
    dimension = get_model().dimension
    vectors = Generator(dimension=dimension).vectors(items)
    with tempfile.TemporaryDirectory() as data_dir, scratch_database():
        load(np.asarray(vectors), model_key=settings.EMBEDDINGS_MODEL)
        script = Path(data_dir) / "distinct_queries.lua"
        script.write_text(DISTINCT_QUERIES)
        with web_server(Path(data_dir)) as url:
            runs = [wrk(url, clients=c, seconds=seconds, script=script) for c in (1, 8, 32)]
    return {
        "endpoint": "GET /search/results?q=<a different text each time> (the HTML results "
        "the search page loads)",
        "server": "gunicorn " + " ".join(GUNICORN_ARGUMENTS),
        "items": items,
        "model": "the tests' tiny random model, so the figure is the web path's own cost",
        "load_generator": "wrk, a separate process on loopback",
        "runs": runs,
    }
