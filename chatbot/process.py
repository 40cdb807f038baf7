"""Which process is this: the name a process's lease and its streaming replies carry."""
from __future__ import annotations

import os
import socket
from functools import lru_cache


def this_process() -> str:
    """``host:pid:start``: unique even when a restarted container reuses a pid."""
    return _identity(os.getpid())


@lru_cache(maxsize=4)
def _identity(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (or, without /proc, the time now)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:  # no /proc (macOS): any value unique to this run will do
        return str(int(os.times().elapsed * 100))
