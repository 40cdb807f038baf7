"""The benchmark still runs: every mode, a few streams for a few seconds, through the real
servers. It measures nothing here (figures belong to bench/README.md); it checks that each
mode completes whole replies without errors, so the benchmark cannot rot unseen."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("stub", "relay", "floor", "ws", "sse")


def test_every_mode_of_the_benchmark_streams_whole_replies_without_errors():
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--streams", "3", "--seconds", "3",
         "--tokens", "8", "--modes", ",".join(MODES[1:])],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {cells[0]: cells for cells in map(str.split, run.stdout.splitlines()) if cells and cells[0] in MODES}
    assert set(rows) == set(MODES), run.stdout
    for mode, (_, streams, replies, errors, *_rest) in rows.items():
        assert (streams, errors) == ("3", "0"), f"{mode}: {run.stdout}"
        assert int(replies) >= 3, f"{mode}: {run.stdout}"  # each stream finished at least one reply
