from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from embeddings.conf import embeddings_settings
from searchapp import conf
from searchapp.database import EMBEDDED_PGDATA, database_url

STOP_GRACE_SEC = 30.0
POLL_SEC = 0.5


def gunicorn_command(bind: str) -> list[str]:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    config = Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"
    access_log_to_stdout = ["--access-logfile", "-"]
    return [
        str(gunicorn),
        "searchapp.wsgi",
        "--config",
        str(config),
        "--bind",
        bind,
        *access_log_to_stdout,
    ]


class Command(BaseCommand):
    help = (
        "Migrate, collect static files, then run the web server (gunicorn) and the background "
        "worker until Ctrl-C or SIGTERM, which stops both and, where this command started it, "
        "the embedded PostgreSQL. `make run` runs this. With SERVER_ROLE=inference, only the "
        "web server, as an inference node (`make serve-embeddings`)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="gunicorn's address.")

    def handle(self, *args: Any, bind: str, **options: Any) -> None:
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)

        if conf.SERVER_ROLE.value() == "inference":
            children = self._inference_node(bind)
            serving, first_page = "model calls as an inference node", "/inference/health"
        else:
            children = self._app(bind)
            serving, first_page = "the app with a background worker", "/accounts/login/"
        if stopping.is_set():
            self._stop(children)
            return
        self._wait_until_answering(bind, first_page, children, stopping)
        self.stdout.write(f"Serving {serving} on http://{bind}/; Ctrl-C stops it.")
        while not stopping.wait(POLL_SEC):
            if any(child.poll() is not None for child in children):
                break
        failed = [child.args for child in children if child.poll() not in (None, 0)]
        self._stop(children)
        if failed and not stopping.is_set():
            raise CommandError(f"Stopped everything because this one exited: {failed[0]!r}")
        self.stdout.write("Stopped.")

    def _app(self, bind: str) -> dict[subprocess.Popen[bytes], signal.Signals]:
        self.stdout.write(f"Database: {self._database_description()}")
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        env = {**os.environ}
        # The embedded server's address, so that the processes below do not start their own.
        env.setdefault("DATABASE_URL", database_url(connection.settings_dict))
        connection.close()
        manage = Path(settings.BASE_DIR) / "manage.py"
        # Each in a session of its own, so that a terminal's Ctrl-C reaches only this command,
        # which then stops each once, the way it stops gracefully: the worker finishes its job
        # on SIGINT (a second one, or SIGTERM, cuts it), gunicorn its requests on SIGTERM.
        return {
            subprocess.Popen(
                [sys.executable, str(manage), "worker"], env=env, start_new_session=True
            ): signal.SIGINT,
            subprocess.Popen(gunicorn_command(bind), env=env, start_new_session=True): (
                signal.SIGTERM
            ),
        }

    def _inference_node(self, bind: str) -> dict[subprocess.Popen[bytes], signal.Signals]:
        # No database, no worker: the node runs the model for the other tiers' processes.
        if not embeddings_settings().model.inference_secret:
            raise CommandError(
                "An inference node takes calls only with a secret: set "
                "EMBEDDINGS_INFERENCE_SECRET here and on the web and worker processes."
            )
        return {
            subprocess.Popen(gunicorn_command(bind), start_new_session=True): signal.SIGTERM,
        }

    def _wait_until_answering(
        self,
        bind: str,
        path: str,
        children: dict[subprocess.Popen[bytes], signal.Signals],
        stopping: threading.Event,
    ) -> None:
        # Its first request also starts the model's warm-up (EMBEDDINGS_WARM_UP).
        socket_path = bind.removeprefix("unix:") if bind.startswith("unix:") else None
        base_url = "http://localhost" if socket_path else f"http://{bind}"
        with httpx.Client(
            base_url=base_url, transport=httpx.HTTPTransport(uds=socket_path), timeout=POLL_SEC
        ) as client:
            while not stopping.is_set() and all(child.poll() is None for child in children):
                try:
                    client.get(path)
                    return
                except httpx.TransportError:
                    stopping.wait(POLL_SEC)

    def _database_description(self) -> str:
        pgdata = connection.settings_dict.get(EMBEDDED_PGDATA)
        connection.ensure_connection()
        return f"embedded PostgreSQL in {pgdata}" if pgdata else "DATABASE_URL"

    def _stop(self, children: dict[subprocess.Popen[bytes], signal.Signals]) -> None:
        for child, stop_signal in children.items():
            with suppress(ProcessLookupError):
                child.send_signal(stop_signal)
        for child in children:
            try:
                child.wait(STOP_GRACE_SEC)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
