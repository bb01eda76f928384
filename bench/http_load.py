from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from django.conf import settings

from bench.models import model_directory
from bench.processes import app_processes
from bench.scratch import scratch_database
from bench.synthetic import Generator
from bench.vector_search import load
from embeddings.conf import MODEL
from embeddings.engine.registry import get_model

SEARCH_PATH = "/?q=a+red+car+at+night"
# htmx asks the search page for its results alone.
PARTIAL = {"HX-Request": "true"}
# Every request asks something new, so the server's query-vector cache never answers.
DISTINCT_QUERIES = """
request = function()
  return wrk.format(
    "GET", "/?q=a+red+car+number+" .. math.random(1, 1000000000), {["HX-Request"] = "true"}
  )
end
"""


def wrk(url: str, *, clients: int, seconds: int, script: Path) -> dict[str, Any]:
    threads = min(clients, 2)
    # A slow answer is a latency to report, not a failure (wrk's own timeout is 2 s).
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["--latency"]
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
        load(np.asarray(vectors), model_key=MODEL.value())
        script = Path(data_dir) / "distinct_queries.lua"
        script.write_text(DISTINCT_QUERIES)
        with app_processes(Path(data_dir)) as processes:
            # It measures the server, not one visitor: wrk's single address would be limited.
            _, url = processes.web(SEARCH_RATE_LIMIT_PER_MINUTE="0")
            httpx.get(
                url + SEARCH_PATH, headers=PARTIAL, timeout=120
            ).raise_for_status()  # the model is loaded
            runs = [wrk(url, clients=c, seconds=seconds, script=script) for c in (1, 8, 32)]
    return {
        "endpoint": "GET /?q=<a different text each time> with HX-Request (the HTML results "
        "the search page swaps in)",
        "server": "gunicorn as `make run` starts it (deploy/gunicorn.conf.py)",
        "items": items,
        "model": "the tests' tiny random model, so the figure is the web path's own cost",
        "load_generator": "wrk, a separate process on loopback",
        "runs": runs,
    }
