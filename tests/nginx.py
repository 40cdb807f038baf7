"""A real nginx in front of test servers, as an operator would scale out: round-robin, no stickiness."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.servers import free_port


def nginx_available() -> str | None:
    """The nginx binary, or None; /usr/sbin is often missing from a non-root PATH."""
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


# The http{} body an operator would use, less the TLS: the README's "Scale out" shows this shape.
PROXY = """\
# The chat server processes, taken in turn (round-robin): any process can serve any request.
upstream chatbot {{
{servers}
}}

# "Connection: upgrade" for WebSocket handshakes, "close" for everything else.
map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}

server {{
    listen 127.0.0.1:{port};
    client_max_body_size 64m;                     # attachments

    location / {{
        proxy_pass http://chatbot;
        proxy_http_version 1.1;                   # needed for WebSocket upgrades
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $http_host;         # with the port: the socket checks Origin against Host
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_buffering off;                      # server-sent events reach the browser as written
        proxy_read_timeout 1h;                    # long-lived event streams and WebSockets
    }}
}}
"""

# Everything nginx writes is under DIR, so a test needs no system paths and leaves nothing behind.
MAIN = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

{proxy}}}
"""


class NginxProxy:
    """``with NginxProxy([port_a, port_b], tmp_path) as proxy:`` serves ``proxy.url`` from both."""

    def __init__(self, upstreams: list[int], base: Path) -> None:
        if not upstreams:
            raise ValueError("nginx needs at least one upstream")
        self.dir = Path(base).resolve()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server 127.0.0.1:{port};" for port in upstreams)
        proxy = PROXY.format(servers=servers, port=self.port)
        # Started as root, the master runs its worker as "nobody", which cannot write the temp
        # paths under a root-owned 0700 test folder; keep the worker as root here (only the test's
        # own instance, on loopback). As any other user the directive is ignored with a warning,
        # so it is written only when it applies.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.config_text = MAIN.format(user=user, dir=self.dir,
                                       proxy="".join(f"    {line}\n" if line else "\n"
                                                     for line in proxy.splitlines()))
        self.error_log = self.dir / "error.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> NginxProxy:
        binary = nginx_available()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "nginx.conf"
        config.write_text(self.config_text)
        self.error_log.touch()
        # -e: the compiled-in error log (/var/log/nginx) is opened before the config is read.
        # Own session: on a hung shutdown the master and its worker are killed together.
        self.process = subprocess.Popen(
            [binary, "-p", str(self.dir), "-c", str(config), "-e", str(self.error_log),
             "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited ({self.process.returncode}):\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.log()}")

    def __exit__(self, *exc) -> None:
        """SIGQUIT lets requests finish; open streams would hold it for an hour, so then kill."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the worker too, not only the master
            except ProcessLookupError:
                pass
            process.wait()

    def log(self) -> str:
        return self.error_log.read_text() if self.error_log.exists() else ""
