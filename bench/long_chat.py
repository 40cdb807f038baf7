"""How long a long chat takes to open: server time (the app in-process, no network) of a
chat page with 2,000 messages, on SQLite and on PostgreSQL.

    .venv/bin/python bench/long_chat.py                  # this tree
    PYTHONPATH=/tmp/old .venv/bin/python bench/long_chat.py   # another checkout, to compare

Prints, per database, the page's size and its p50 and p95 over the runs."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # PYTHONPATH, when given, wins: another checkout can be measured


def measure(database_url: str, workdir: Path, messages: int, runs: int) -> tuple[int, float, float]:
    from chatbot import create_app
    from chatbot.backends import backends
    from chatbot.store import COMPLETE

    app = create_app({"CHATBOT_ENV": "development", "SECRET_KEY": "bench", "INSTANCE_PATH": str(workdir),
                      "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False, "TESTING": True})
    client = app.test_client()
    client.post("/signup", data={"email": "long@example.com", "password": "correct horse"})
    chat_id = client.post("/chats", data={"content": "A long chat"}).headers["Location"].split("#")[0].rsplit("/", 1)[1]
    store = backends(app).store
    owner = store.user_by_email("long@example.com").id
    reply = "A paragraph of a reply, about lighthouses and their keepers, long enough to look real. " * 6
    for n in range(messages):
        store.add_message(owner, chat_id, "user" if n % 2 == 0 else "assistant",
                          "A question?" if n % 2 == 0 else reply, COMPLETE)
    client.get(f"/chats/{chat_id}")  # warm
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(f"/chats/{chat_id}")
        times.append(time.perf_counter() - started)
        size = len(response.data)
    times.sort()
    return size, statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from tests.databases import postgres_database

    print(f"{'database':10} {'messages':>8} {'page kB':>8} {'p50 ms':>8} {'p95 ms':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        sqlite = f"sqlite:///{Path(scratch) / 'long.sqlite3'}"
        rows = [("sqlite", measure(sqlite, Path(scratch) / "a", args.messages, args.runs))]
        with postgres_database() as url:
            if url:
                rows.append(("postgresql", measure(url, Path(scratch) / "b", args.messages, args.runs)))
    for name, (size, p50, p95) in rows:
        print(f"{name:10} {args.messages:>8} {size / 1000:>8.1f} {p50:>8.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
