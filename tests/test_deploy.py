from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bench.processes import GUNICORN_CONFIG
from bench.proxy import PROXY_CONF, nginx_proxy
from embeddings.conf import embeddings_settings
from searchapp.management.commands.serve import gunicorn_command
from tests.embeddings.test_fetch import Server, serving

ROOT = Path(__file__).resolve().parent.parent
NGINX = ROOT / "deploy" / "nginx"
# What production asks of its environment; these checks never reach the database.
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "search.example.com",
    "DATABASE_URL": "postgres://check@localhost/check",
}


HTTPS = ("HTTPS_ONLY", "TRUST_X_FORWARDED_PROTO")


def manage(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    return python("manage.py", *arguments, **env)


def python(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for the whole session; no deployment does.
    ours = {*PRODUCTION, *HTTPS, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {name: value for name, value in os.environ.items() if name not in ours}
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def https_settings(**env: str) -> dict[str, Any]:
    names = ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS")
    # The settings as a process reads them from this environment, without loading the apps.
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({"
        + ", ".join(f"{name!r}: s.{name}" for name in names)
        + ", 'SECURE_PROXY_SSL_HEADER': s.SECURE_PROXY_SSL_HEADER}))"
    )
    completed = python("-c", code, DJANGO_SETTINGS_MODULE="searchapp.settings", **env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.splitlines()[-1])


def test_production_settings_pass_the_deploy_check() -> None:
    completed = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]


def test_production_is_https_only_and_believes_x_forwarded_proto_only_when_told() -> None:
    production = https_settings(**PRODUCTION)
    behind_proxy = https_settings(**PRODUCTION, TRUST_X_FORWARDED_PROTO="true")
    plain_http = https_settings(**PRODUCTION, HTTPS_ONLY="false")
    development = https_settings(DATABASE_URL=PRODUCTION["DATABASE_URL"])

    assert production["SECURE_SSL_REDIRECT"] and production["SESSION_COOKIE_SECURE"]
    assert production["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert production["SECURE_PROXY_SSL_HEADER"] is None
    assert behind_proxy["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert not plain_http["SECURE_SSL_REDIRECT"] and not plain_http["SESSION_COOKIE_SECURE"]
    assert not development["SECURE_SSL_REDIRECT"] and development["SECURE_HSTS_SECONDS"] == 0


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_publishes_only_the_proxy_and_web_trusts_it() -> None:
    services = compose()["services"]
    web = services["web"]["environment"]

    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    assert services["proxy"]["build"] == "deploy/nginx"
    assert (NGINX / "Dockerfile").is_file()
    assert web["TRUSTED_PROXY_COUNT"] == 1
    assert web["TRUST_X_FORWARDED_PROTO"] == "true"
    assert web["DJANGO_ENV"] == "production"


def test_compose_declares_every_named_volume() -> None:
    document = compose()
    # "${TLS_DIR:-tls}:/etc/nginx/tls" mounts the volume "tls" unless TLS_DIR is set.
    named = {
        re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", mount).split(":")[0]
        for service in document["services"].values()
        for mount in service.get("volumes", [])
    }

    assert named == set(document["volumes"])


def test_every_gunicorn_start_reads_the_one_config_file() -> None:
    config = GUNICORN_CONFIG.relative_to(ROOT).as_posix()
    makefile = (ROOT / "Makefile").read_text().splitlines()
    make_run = [line.strip() for line in makefile if "manage.py serve" in line]
    dockerfile_cmd = re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)

    assert make_run == [
        "$(PY) manage.py serve --bind 127.0.0.1:$(PORT)",
        "SERVER_ROLE=inference $(PY) manage.py serve --bind $(INFERENCE_BIND)",
    ]
    assert gunicorn_command("127.0.0.1:8000")[2:4] == ["--config", str(GUNICORN_CONFIG)]
    assert dockerfile_cmd is not None
    assert json.loads(dockerfile_cmd.group(1))[2:4] == ["--config", config]
    assert "command" not in compose()["services"]["web"]  # the image's CMD


def test_the_compose_proxy_config_passes_nginx_own_test(tmp_path: Path) -> None:
    # As in the image: the files in one directory, and a certificate made at the first start.
    for name in ("nginx.conf", "proxy.conf", "entrypoint.sh"):
        shutil.copy(NGINX / name, tmp_path / name)
    tls = tmp_path / "tls"

    completed = subprocess.run(
        ["sh", str(tmp_path / "entrypoint.sh"), "nginx", "-t", "-c", str(tmp_path / "nginx.conf")],
        env={**os.environ, "TLS_DIRECTORY": str(tls), "SERVER_NAME": "search.example.com"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "test is successful" in completed.stderr
    assert (tls / "fullchain.pem").stat().st_size > 0 and (tls / "privkey.pem").stat().st_size > 0


def test_the_proxy_body_limit_is_the_apps() -> None:
    text = PROXY_CONF.read_text()
    match = re.search(r"^client_max_body_size (\d+)m;$", text, re.MULTILINE)
    limit = embeddings_settings().max_request_bytes

    assert match is not None and int(match.group(1)) * 1024 * 1024 == limit
    assert text.count(f"larger than {limit} bytes") == 2


@pytest.fixture
def upstream() -> Iterator[Server]:
    yield from serving()


def test_the_proxy_replaces_the_forwarded_headers_a_client_sends(
    upstream: Server, tmp_path: Path
) -> None:
    upstream.body("/items/1/", b"ok", content_type="text/html")
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}

    with nginx_proxy(upstream.base, directory=tmp_path / "nginx") as base:
        response = httpx.get(f"{base}/items/1/", headers=spoofed)

    assert response.status_code == 200
    (headers,) = upstream.seen
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["Host"] == base.removeprefix("http://")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1.3/embed", "application/json"),
        ("/api/items", "application/json"),
        ("/upload/", "text/plain"),
    ],
)
def test_the_proxy_refuses_a_body_over_the_limit_before_reading_it(
    upstream: Server, tmp_path: Path, path: str, content_type: str
) -> None:
    too_large = embeddings_settings().max_request_bytes + 1

    # Only the headers are sent: the answer comes from the declared length alone.
    with nginx_proxy(upstream.base, directory=tmp_path / "nginx") as base:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        connection.putrequest("POST", path)
        connection.putheader("Content-Length", str(too_large))
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()

    assert response.status == 413
    assert response.headers["Content-Type"] == content_type
    if content_type == "application/json":
        assert json.loads(body)["code"] == "file_too_large"
    assert upstream.seen == []


def test_the_tiers_overlay_points_web_and_worker_at_inference_nodes_that_share_its_secret() -> None:
    tiers = yaml.safe_load((ROOT / "deploy" / "compose.tiers.yml").read_text())["services"]
    node = tiers["inference"]
    node_env = node["environment"]

    for name in ("web", "worker"):
        env = tiers[name]["environment"]
        assert name in compose()["services"]
        assert env["EMBEDDINGS_BACKEND"] == "remote"
        assert env["EMBEDDINGS_INFERENCE_URLS"].endswith("http://inference:8000}")
        assert env["EMBEDDINGS_INFERENCE_SECRET"] == node_env["EMBEDDINGS_INFERENCE_SECRET"]
        assert tiers[name]["build"]["args"]["EXTRAS"] == "s3"  # no torch in their image
    assert node_env["SERVER_ROLE"] == "inference"
    assert node_env["ALLOWED_HOSTS"].split(",")[0] == "inference"
    assert node_env["HTTPS_ONLY"] == "false"  # the other tiers call it over plain HTTP
    assert "ports" not in node
    assert "/inference/health" in node["healthcheck"]["test"][-1]
