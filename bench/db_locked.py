"""What a locked database does to everyone else: the real server (gunicorn + gevent, one
worker, SQLite) while another process holds the database's write lock for a few seconds.
One user sends a message (which needs the lock); meanwhile, others ask for a chat page (a
read), the log-in page and a static file. Prints how long each took.

    .venv/bin/python bench/db_locked.py                       # this tree
    PYTHONPATH=/tmp/old .venv/bin/python bench/db_locked.py   # another checkout, to compare
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # PYTHONPATH, when given, wins: another checkout can be measured

LOCK_SECONDS = 6.0


def main() -> None:
    import requests

    from tests.live_client import User
    from tests.servers import embedded_server

    with tempfile.TemporaryDirectory() as scratch, embedded_server(Path(scratch)) as server:
        writer, reader = User(server, "writer@example.com"), User(server, "reader@example.com")
        writer_chat, reader_chat = writer.new_chat(), reader.new_chat()
        database = server.env["DATABASE_URL"].removeprefix("sqlite:///")
        holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, time
            db = sqlite3.connect({database!r}, isolation_level=None, timeout=30)
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE IF NOT EXISTS bench_lock (x)")
            print("locked", flush=True)
            time.sleep({LOCK_SECONDS})
            db.execute("ROLLBACK")
        """)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        results: dict[str, tuple[float, int]] = {}

        def timed(name, call):
            started = time.monotonic()
            status = call().status_code
            results[name] = (time.monotonic() - started, status)

        send = threading.Thread(target=timed, args=("send (needs the write lock)", lambda: writer.http.post(
            f"{server.url}/chats/{writer_chat}/messages", data={"content": "hello", "csrf_token": writer.token},
            timeout=60)))
        send.start()
        time.sleep(0.3)
        timed("another user's chat page (a read)", lambda: reader.http.get(f"{server.url}/chats/{reader_chat}",
                                                                        timeout=60))
        timed("the log-in page", lambda: requests.get(server.url + "/login", timeout=60))
        timed("a static file", lambda: requests.get(server.url + "/static/app.css", timeout=60))
        send.join()
        holder.wait()
        holder.stdout.close()
    print(f"write lock held {LOCK_SECONDS:g} s by another process")
    for name, (took, status) in results.items():
        print(f"  {name:38} {took * 1000:8.0f} ms  HTTP {status}")


if __name__ == "__main__":
    main()
