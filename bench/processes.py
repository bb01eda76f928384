from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

from embeddings.conf import MODEL
from searchapp.database import database_url

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def wait_for(condition: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@dataclass
class Processes:
    """Real worker and gunicorn processes of the app on the test database."""

    env: dict[str, str]
    logs: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: dict[int, Path] = field(default_factory=dict)

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        """`manage.py worker` with the durable task backend."""
        command = ["manage.py", "worker", "--interval", "0.05", "--no-startup-delay"]
        return self._start([sys.executable, *command], name="worker", env=env)[0]

    def web(
        self,
        *options: str,
        bind: str = "127.0.0.1:0",
        ready_path: str = "/openapi.json",
        **env: str,
    ) -> tuple[subprocess.Popen[bytes], str]:
        """gunicorn as `make run` starts it (or with these options instead of its config file),
        on a free port unless `bind` names one; (process, base URL) once `ready_path` answers
        200."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        command = [gunicorn, "searchapp.wsgi", "--bind", bind]
        command += options or ("--config", str(GUNICORN_CONFIG))
        process, log = self._start(command, name="web", env=env)
        found: list[str] = []

        def listening() -> bool:
            assert process.poll() is None, log.read_text()
            found[:] = re.findall(r"Listening at: (http://\S+)", log.read_text())
            return bool(found)

        wait_for(listening, seconds=60)
        base = found[0]
        wait_for(lambda: _answers(f"{base}{ready_path}"), seconds=60)
        return process, base

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self.log_paths[process.pid].read_text(errors="replace")

    def stop(self) -> None:
        # The whole group: a gunicorn worker outlives its killed master until its busy threads
        # end (its graceful timeout), holding its database sessions.
        for process in self.started:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _start(
        self, command: list[str], *, name: str, env: dict[str, str]
    ) -> tuple[subprocess.Popen[bytes], Path]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}-{len(self.started)}.log"
        # The application name tells the processes' connections apart in pg_stat_activity.
        url = f"{self.env['DATABASE_URL']}&application_name={name}"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.env, "DATABASE_URL": url, **env},
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        self.started.append(process)
        self.log_paths[process.pid] = log
        return process, log


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
        return status == 200
    except OSError:
        return False


def process_environment(
    *, database: dict[str, object], data_dir: Path, model: str
) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "DATA_DIR": str(data_dir),
        "EMBEDDINGS_MODEL": model,
        "EMBEDDINGS_DEVICE": "cpu",
    }


@contextmanager
def app_processes(data_dir: Path) -> Iterator[Processes]:
    """Processes of the app on this connection's database with the configured model."""
    started = Processes(
        env=process_environment(
            database=connection.settings_dict, data_dir=data_dir, model=MODEL.value()
        ),
        logs=data_dir / "logs",
    )
    try:
        yield started
    finally:
        started.stop()
        # A killed process's sessions end a moment later; the database may be dropped next.
        wait_for(lambda: not _other_sessions(), seconds=30)


def _other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return int(cursor.fetchone()[0])
