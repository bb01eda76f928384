from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import ROOT, wait_for

PROXY_CONF = ROOT / "deploy" / "nginx" / "proxy.conf"
# docker-compose.yml's proxy with its TLS and Docker's DNS left out: the same proxy.conf, on
# loopback, with every path nginx writes in the run's own directory.
CONFIG = """\
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port};
        set $upstream {upstream};
        include {proxy_conf};
    }}
}}
"""


@contextmanager
def nginx_proxy(upstream: str, *, directory: Path) -> Iterator[str]:
    """Debian's nginx with deploy/nginx/proxy.conf in front of `upstream` (http://host:port);
    yields the proxy's base URL once it accepts connections."""
    if shutil.which("nginx") is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    directory.mkdir(parents=True, exist_ok=True)
    # Run as root, nginx's workers are another user, which must reach the temporary files.
    directory.chmod(0o711)
    port = _free_port()
    config = directory / "nginx.conf"
    config.write_text(
        CONFIG.format(directory=directory, port=port, upstream=upstream, proxy_conf=PROXY_CONF)
    )
    command = ["nginx", "-c", str(config), "-e", str(directory / "error.log")]
    with (directory / "nginx.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        wait_for(lambda: _accepts(port, process, directory), seconds=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int, process: subprocess.Popen[bytes], directory: Path) -> bool:
    assert process.poll() is None, (directory / "error.log").read_text(errors="replace")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
