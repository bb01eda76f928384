"""The embedded PostgreSQL: reading settings starts nothing; `make run` starts and stops it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from bench.processes import ROOT, wait_for


def app_environment(data_dir: Path, **env: str) -> dict[str, str]:
    environment = {**os.environ, "DATA_DIR": str(data_dir), "EMBEDDINGS_DEVICE": "cpu", **env}
    environment.pop("DATABASE_URL", None)
    return environment


def manage(*command: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def postmaster_pid(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def test_commands_that_only_read_settings_start_no_database(tmp_path: Path) -> None:
    env = app_environment(tmp_path)

    manage("check", env=env)
    manage("collectstatic", "--noinput", "--verbosity", "0", env=env)

    assert (tmp_path / "staticfiles").is_dir()
    assert not (tmp_path / "postgres").exists()


def test_processes_that_start_at_once_on_a_fresh_data_folder_share_one_server(
    tmp_path: Path,
) -> None:
    # As the test workers of a fresh checkout do: each starts the embedded server on first use.
    pgdata = tmp_path / "postgres"
    code = (
        "import sys; from pathlib import Path; from searchapp.database import "
        "start_embedded_server; print(start_embedded_server(Path(sys.argv[1])))"
    )
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(pgdata)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=180) for process in starting]

    assert [process.returncode for process in starting] == [0, 0, 0], outputs
    assert len({stdout for stdout, _ in outputs}) == 1, "one server's socket for all"
    # The last of them to exit stopped it.
    wait_for(lambda: postmaster_pid(pgdata) is None, seconds=30)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def embed_text(base: str, key: str) -> int:
    request = urllib.request.Request(
        f"{base}/v1.3/embed",
        data=b"model_name=Marengo-retrieval-2.7&text=rain+on+a+tin+roof",
        headers={"x-api-key": key},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return len(json.loads(response.read())["text_embedding"]["segments"])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def serve_until_ctrl_c(env: dict[str, str], log: Path, key: str) -> str:
    """`manage.py serve` until it answers, an embedding with the key (a new one made by another
    command while it runs if none is given), then Ctrl-C; returns the key."""
    pgdata = Path(env["DATA_DIR"]) / "postgres"
    base = f"http://127.0.0.1:{free_port()}"
    with log.open("wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--bind", base.removeprefix("http://")],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    wait_for(lambda: serve.poll() is None and answers(f"{base}/"), seconds=180)
    # The first request, which serve sends before it says it is serving, started the warm-up.
    wait_for(lambda: "Embedding model ready" in log.read_text(), seconds=60)
    postmaster = postmaster_pid(pgdata)
    assert postmaster is not None and alive(postmaster)
    # Another command joins the running database, and its exit leaves it running.
    key = key or manage("create_api_key", "tests", env=env).strip()
    assert embed_text(base, key) == 1
    started = [serve.pid, postmaster] + [
        child.pid for child in psutil.Process(serve.pid).children(recursive=True)
    ]

    os.killpg(serve.pid, signal.SIGINT)  # what Ctrl-C does in a terminal

    assert serve.wait(60) == 0, log.read_text()
    output = log.read_text()
    assert '"POST /v1.3/embed HTTP/1.1" 200' in output  # gunicorn's access log
    assert "Traceback" not in output  # each stopped once, the way it stops gracefully
    wait_for(lambda: not any(map(alive, started)), seconds=60)
    assert postmaster_pid(pgdata) is None
    return key


@pytest.mark.slow
def test_make_run_serves_and_ctrl_c_stops_the_server_the_worker_and_the_database_each_time(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    env = app_environment(tmp_path, EMBEDDINGS_MODEL=str(tiny_model_dir))

    key = serve_until_ctrl_c(env, tmp_path / "first.log", key="")

    # Started again, it has the same database: the key made in the first run still works.
    assert serve_until_ctrl_c(env, tmp_path / "second.log", key=key) == key
