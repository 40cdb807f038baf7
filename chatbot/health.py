"""For load balancers and orchestrators, never behind a login: ``/healthz`` says the process
answers (nothing else asked: cheap under any load), ``/readyz`` that it can serve, its
database and live channel answering within READY_WITHIN seconds (a 503 naming what does not)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from flask import Blueprint, current_app

from .backends import backends

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
READY_WITHIN = 2.0  # seconds each backend has to answer
UNUSED_TOKEN = "readiness" * 4  # a share token nobody has: looking it up asks the database one indexed question


@bp.get("/healthz")
def healthz():
    return {"status": "ok", "open_streams": current_app.extensions["chatbot.streams"].open}


@bp.get("/readyz")
def readyz():
    b = backends()
    problems = {name: problem for name, problem in (
        ("database", _answers(lambda: b.shared.shared(UNUSED_TOKEN))),
        ("live_channel", _answers(b.channel.ping)),
    ) if problem}
    body = {"status": "ready" if not problems else "not ready", **({"problems": problems} if problems else {})}
    return body, 503 if problems else 200, {"Retry-After": "5"} if problems else {}


def _answers(ask: Callable[[], object]) -> str | None:
    """None if ``ask()`` returns within READY_WITHIN seconds; else what went wrong. (It runs
    in a thread of its own, a greenlet under gevent, so a backend that hangs holds nobody.)"""
    outcome: list[BaseException | None] = []

    def run():
        try:
            ask()
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - any failure is "not ready"
            outcome.append(error)
    worker = threading.Thread(target=run, daemon=True, name="readiness")
    worker.start()
    worker.join(READY_WITHIN)
    if not outcome:
        return f"did not answer within {READY_WITHIN:g} s"
    if outcome[0] is None:
        return None
    # The details (hosts, ports) are for the log, not for whoever asks this open address.
    log.warning("not ready: %s: %s", type(outcome[0]).__name__, outcome[0])
    return "not answering"
