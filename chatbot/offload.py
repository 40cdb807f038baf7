"""Run CPU-heavy calls without stalling other connections."""
from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


def offload(function: Callable[..., T], *args: object) -> T:
    """Call ``function(*args)`` in gevent's thread pool when running under gevent.

    Password hashing holds the CPU for ~100 ms; on the gevent event loop that would
    freeze every other request and stream of the worker. Under plain threads (the
    development server) a direct call is already concurrent.
    """
    try:
        from gevent import get_hub
        from gevent.monkey import is_module_patched
    except ImportError:  # pragma: no cover - gevent is a dependency
        return function(*args)
    if not is_module_patched("threading"):
        return function(*args)
    return get_hub().threadpool.apply(function, args)
