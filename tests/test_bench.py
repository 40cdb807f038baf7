"""The benchmark still runs: every mode, every live channel with one and two workers, and
the memory-per-socket measurement, each with a few streams or sockets for a few seconds,
through the real servers. It measures nothing here (figures belong to bench/README.md); it
checks that each run completes whole replies without errors, so the benchmark cannot rot
unseen."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_service
from tests.databases import postgres_admin

ROOT = Path(__file__).resolve().parent.parent
MODES = ("stub", "relay", "floor", "ws", "sse")


def bench(*options: str) -> str:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--tokens", "8", *options],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def rows(output: str) -> list[list[str]]:
    """The table's rows: mode, channel, workers, streams, replies, errors, ... (not the summary's)."""
    table = output.split("\nTTFT and lag in ms")[0]
    return [cells for cells in map(str.split, table.splitlines()) if cells and cells[0] in MODES]


def assert_whole_replies(row: list[str], streams: int, output: str) -> None:
    _, _, _, count, replies, errors, *_ = row
    assert (count, errors) == (str(streams), "0"), f"{row}: {output}"
    assert int(replies) >= streams, f"{row}: {output}"  # each stream finished at least one reply


def test_every_mode_of_the_benchmark_streams_whole_replies_without_errors():
    output = bench("--streams", "3", "--seconds", "2", "--warmup", "0.5", "--modes", ",".join(MODES[1:]))
    found = {row[0]: row for row in rows(output)}
    assert set(found) == set(MODES), output
    for row in found.values():
        assert_whole_replies(row, 3, output)


def test_every_live_channel_with_one_and_two_workers_streams_whole_replies_without_errors():
    if shutil.which("redis-server") is None:
        require_service("redis-server is not installed")
    admin = postgres_admin()
    if admin is None:
        require_service("PostgreSQL is not running on 127.0.0.1:5432")
    admin.close()
    output = bench("--streams", "3", "--seconds", "2", "--warmup", "0", "--modes", "ws",
                   "--channels", "memory,redis,postgres", "--workers", "1,2")
    found = {(row[1], row[2]): row for row in rows(output) if row[0] == "ws"}
    # The in-process channel runs one worker only: gunicorn refuses more on it.
    assert set(found) == {("memory", "1"), ("redis", "1"), ("redis", "2"), ("postgres", "1"), ("postgres", "2")}, output
    for row in found.values():
        assert_whole_replies(row, 3, output)
    assert "2w/1w" in output, output  # the summary


def test_the_benchmark_measures_memory_per_open_chat_socket():
    output = bench("--sockets", "20")
    opened = re.search(r"opened (\d+) \((\d+) failed\).*: (-?\d+\.\d) kB per socket", output)
    assert opened, output
    assert opened.group(1, 2) == ("20", "0"), output


def test_the_markdown_rendering_benchmark_renders_whole_replies():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "markdown_stream.py"), "--rounds", "1",
                          "--replies", "2"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("this tree")]
    assert [row[2:4] for row in rows] == [["1", "1"], ["5", "1"], ["5", "3"]], run.stdout
    assert all(float(row[5]) > 0 for row in rows), run.stdout  # CPU per reply, measured


def test_the_search_benchmark_searches_every_kind_of_query_on_both_databases():
    admin = postgres_admin()
    if admin is None:
        require_service("PostgreSQL is not running on 127.0.0.1:5432")
    admin.close()
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "search.py"), "--chats", "20", "--messages", "2000",
                          "--runs", "2"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith(("sqlite ", "postgresql "))]
    assert [row[0] for row in rows] == ["sqlite"] * 7 + ["postgresql"] * 7, run.stdout
    hits = {(row[0], " ".join(row[1:-5])): int(row[-5]) for row in rows}  # database, kind of query, hits, 4 times
    assert hits[("sqlite", "common word")] > 0 and hits[("sqlite", "no match")] == 0, run.stdout
    assert {k[1]: v for k, v in hits.items() if k[0] == "sqlite"} == \
        {k[1]: v for k, v in hits.items() if k[0] == "postgresql"}, run.stdout  # both find the same
