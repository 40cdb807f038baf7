"""How often a reply's new text is read from the model and sent to its views.

Every ``window`` seconds a reply being written costs one read of the model's stream, one
parse, one live event and one frame for each view, however many tokens came in between.
The window is BASE (50 ms: text still looks like it streams) while the worker keeps up.
When it falls behind, every task waits longer for its turn, and the window widens with
that wait, up to WIDEST: each reply then costs fewer reads and frames, which frees the CPU
the worker is short of, for new messages and first tokens above all. Only the pace of the
text changes, never the text. As the backlog clears, the window narrows again.

The backlog is measured by the ticker of the process's reply runner (runner.ReplyRunner):
how late it wakes from a sleep of BASE seconds. The runner owns the Pace; the model reads
its window.
"""
from __future__ import annotations

BASE = 0.05  # seconds
WIDEST = 0.2  # seconds: text arriving in bursts of up to five per second still reads as live
WIDEN_BY = 3.0  # seconds of window per second of lateness
SMOOTHING = 0.3  # weight of the newest lateness: one slow tick is not a trend


class Pace:
    def __init__(self) -> None:
        self.window = BASE
        self.lateness = 0.0  # smoothed, in seconds

    def observe(self, late: float) -> None:
        """The ticker woke ``late`` seconds after it asked to."""
        self.lateness += SMOOTHING * (max(late, 0.0) - self.lateness)
        self.window = min(WIDEST, BASE + WIDEN_BY * self.lateness)

