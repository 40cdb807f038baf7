"""Auto-pipelining for the cross-process channels: many publishers, one round trip.

Every reply being written publishes an event per pacing window, so a busy worker publishes
thousands a second, each from its own task. Sent one by one, each costs a round trip and
the client library's whole command path. Here a publisher hands its event to the one writer
task of its process and waits; the writer sends everything waiting in one go (one pipeline,
or one statement) and wakes every publisher of that batch together. An idle process pays
one task switch; a busy one pays a round trip per batch, not per event.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

Item = TypeVar("Item")


class Batcher(Generic[Item]):
    def __init__(self, send: Callable[[list[Item]], list[int | Exception]], name: str) -> None:
        """``send`` sends a batch and returns, in order, each item's result (a sequence
        number) or the exception its publisher gets; if it raises, every publisher of the
        batch gets that exception."""
        self._send, self._name = send, name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waiting: list[tuple[Item, list]] = []  # (item, its result's cell)
        self._batch_done = threading.Event()  # set when the batch being gathered is sent
        self._stopped = False
        self._writer: threading.Thread | None = None

    def submit(self, item: Item) -> int:
        cell: list = []
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self._name} is shut down")
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, daemon=True, name=self._name)
                self._writer.start()
            self._waiting.append((item, cell))
            done = self._batch_done
            self._wake.notify()
        done.wait()
        result = cell[0]
        if isinstance(result, Exception):
            raise result
        return result

    def _write(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopped:
                    self._wake.wait()
                if self._stopped and not self._waiting:
                    return
                batch, self._waiting = self._waiting, []
                done, self._batch_done = self._batch_done, threading.Event()
            try:
                results = self._send([item for item, _ in batch])
            except Exception as error:  # noqa: BLE001 - it belongs to the publishers
                results = [error] * len(batch)
            for (_, cell), result in zip(batch, results):
                cell.append(result)
            done.set()

    def shutdown(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify()
