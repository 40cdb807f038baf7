"""Which process is this, and is another one still alive? For replies left streaming by a crash."""
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


def is_alive(worker: str) -> bool:
    """False only when ``worker`` ran on this host and is certainly gone."""
    host, _, rest = worker.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: not ours to judge
    return _start_time(int(pid)) == started


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" if there is no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return ""
    except OSError:  # no /proc (macOS): fall back to "is the pid in use"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return ""
        except PermissionError:
            pass
        return "unknown"
