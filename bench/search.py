"""How fast a search is for a heavy user: one account with 10,000 chats and 1,000,000
messages (Zipf-distributed words, as in real text: a few very common, most rare), on
SQLite and on PostgreSQL, through the store (the query) and through the search page (the
app in-process, no network: what the server spends).

    .venv/bin/python bench/search.py                          # the goal's size (minutes to seed)
    .venv/bin/python bench/search.py --chats 100 --messages 10000 --runs 20   # a quick look

Prints, per database and kind of query, how many hits and the p50 and p95 in ms."""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

VOCABULARY = 20_000
WORDS_PER_MESSAGE = (8, 60)
SYLLABLES = ["ka", "lo", "mi", "ser", "ta", "ven", "dor", "ri", "ul", "pha", "ne", "sto", "gra", "be", "quo", "zi"]


def vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(sorted(words), key=lambda w: rng.random())  # rank order (the first the most common), the same every run


def queries(words: list[str]) -> dict[str, str]:
    """A query of each kind a person types, by how common its words are."""
    return {"common word": words[5], "mid word": words[500], "rare word": words[15_000],
            "two words": f"{words[100]} {words[2_000]}", "as you type": words[300][:3],
            "long prefix": words[0][:6], "no match": "xylophonequartz"}


def seed(store, owner: str, chats: int, messages: int, rng: random.Random, words: list[str]) -> None:
    """The chats and their messages straight into the tables, in bulk (as the app would
    have stored them over years: a tree of one branch each, every reply complete)."""
    from chatbot.sqlstore import chats as chats_table, messages as messages_table

    weights = [1 / rank for rank in range(1, len(words) + 1)]
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    start = datetime.now(timezone.utc) - timedelta(days=720)
    per_chat = messages // chats
    step = timedelta(days=720) / messages
    at = start
    with store.engine.begin() as db:
        for c in range(chats):
            chat_id = str(uuid.uuid4())
            rows, parent = [], None
            for n in range(per_chat):
                text = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(*WORDS_PER_MESSAGE)))
                message_id = str(uuid.uuid4())
                rows.append(dict(id=message_id, chat_id=chat_id, owner_id=owner, role="user" if n % 2 == 0 else "assistant",
                                 content=text, status="complete", created_at=at, seq=n + 1, parent_id=parent))
                parent, at = message_id, at + step
            db.execute(chats_table.insert().values(
                id=chat_id, owner_id=owner, title=" ".join(rng.choices(words[:3000], k=4)), model="m",
                system_prompt="", created_at=rows[0]["created_at"], updated_at=at, current_leaf=parent))
            db.execute(messages_table.insert(), rows)
            if c % 1000 == 999:
                print(f"  seeded {c + 1:,} chats", file=sys.stderr)


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times) * 1000, times[max(int(len(times) * 0.95) - 1, 0)] * 1000


def measure(database_url: str, workdir: Path, chats: int, messages: int, runs: int) -> list[tuple]:
    from chatbot import create_app
    from chatbot.backends import backends
    from chatbot.search import terms_of

    app = create_app({"CHATBOT_ENV": "development", "SECRET_KEY": "bench", "INSTANCE_PATH": str(workdir),
                      "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False, "TESTING": True})
    client = app.test_client()
    client.post("/signup", data={"email": "heavy@example.com", "password": "correct horse"})
    store = backends(app).store
    owner = store.user_by_email("heavy@example.com").id
    rng = random.Random(7)
    words = vocabulary(rng)
    started = time.perf_counter()
    seed(store, owner, chats, messages, rng, words)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as db:
            db.exec_driver_sql("ANALYZE")
    print(f"  seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if store.engine.dialect.name == "sqlite":
        path = Path(store.engine.url.database)
        print(f"  database file: {path.stat().st_size / 1e6:,.0f} MB", file=sys.stderr)
    rows = []
    for kind, query in queries(words).items():
        terms = terms_of(query)
        store.search(owner, terms, 30)  # warm
        in_store, in_page = [], []
        for _ in range(runs):
            t = time.perf_counter()
            hits = store.search(owner, terms, 30)
            in_store.append(time.perf_counter() - t)
            t = time.perf_counter()
            response = client.get("/search", query_string={"q": query}, headers={"HX-Request": "true"})
            in_page.append(time.perf_counter() - t)
            assert response.status_code == 200
        rows.append((kind, len(hits), *percentiles(in_store), *percentiles(in_page)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    from tests.databases import postgres_database

    print(f"{args.chats:,} chats, {args.messages:,} messages, one user; {args.runs} runs of each query")
    print(f"{'database':10} {'query':12} {'hits':>5} {'store p50':>9} {'p95':>6} {'page p50':>9} {'p95':>6}  (ms)")
    with tempfile.TemporaryDirectory() as scratch:
        for database in args.databases.split(","):
            if database == "sqlite":
                results = measure(f"sqlite:///{Path(scratch) / 'search.sqlite3'}", Path(scratch) / "a",
                                  args.chats, args.messages, args.runs)
            else:
                with postgres_database() as url:
                    if url is None:
                        print("postgresql: not running on 127.0.0.1:5432, skipped")
                        continue
                    results = measure(url, Path(scratch) / "b", args.chats, args.messages, args.runs)
            for kind, hits, store_p50, store_p95, page_p50, page_p95 in results:
                print(f"{database:10} {kind:12} {hits:>5} {store_p50:>9.1f} {store_p95:>6.1f} {page_p50:>9.1f} "
                      f"{page_p95:>6.1f}")


if __name__ == "__main__":
    main()
