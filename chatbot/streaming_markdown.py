"""Markdown shown while it is being written: finished blocks rendered, the rest as text.

A reply streams in a few characters at a time. Rendering all of it again at every step
costs time proportional to the square of its length, and showing it raw until the end
makes it jump when it is finally rendered. Instead, the text is cut where its finished
blocks end: everything before the cut renders exactly as it will in the whole reply, so
it is rendered once, and only the unfinished block after it is shown as escaped text.

Where the finished blocks end: at the start of the last top-level block among the text's
complete lines. In CommonMark, a block is closed by the line that starts the next one,
and later lines can change only the block still open (a setext underline, a table's
delimiter row, a list's next item, a fence's closing line all belong to it). The one
rule with an effect at a distance, link reference definitions, is off in our parser
(rendering.MARKDOWN). A line not yet ended may still change meaning (``#`` then ``#x``),
so only complete lines count.

The cut is found by block parsing alone (no inline parsing, no highlighting), of the
unfinished part only; a long code fence is not parsed again until a line could close it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup

from .rendering import MARKDOWN, render_markdown

_NEWLINE = re.compile(r"\r\n?|\n")  # what markdown-it's normalising step treats as a line end
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_FENCE_CLOSE = r"^ {0,3}%s{%d,}[ \t]*\r?$"


def settled_end(text: str) -> int:
    """Where the finished blocks of ``text`` end: the text before it renders the same
    whatever follows. (The Settler asks it of the unfinished part only.)"""
    complete = _complete_lines(text)
    if not complete:
        return 0
    tokens: list = []
    MARKDOWN.block.parse(_NEWLINE.sub("\n", complete).replace("\0", "\ufffd"), MARKDOWN, {}, tokens)
    starts = [token.map[0] for token in tokens if token.level == 0 and token.nesting >= 0 and token.map]
    if len(starts) < 2:
        return 0  # one block, perhaps still open
    return _line_offsets(complete)[starts[-1]]


def _complete_lines(text: str) -> str:
    """``text`` up to its last line end. A trailing ``\\r`` waits: it may be half of ``\\r\\n``."""
    end = max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1))
    return text[:end + 1]


def _line_offsets(text: str) -> list[int]:
    return [0] + [match.end() for match in _NEWLINE.finditer(text)]


class Settler:
    """Follows a reply's text as it grows and says where its finished blocks end. It keeps
    only the unfinished part, and parses it only when a line ends that could end a block."""

    def __init__(self) -> None:
        self.settled = 0  # characters of finished blocks so far
        self._open = ""  # the text after them
        self._fence: str | None = None  # the closing line's pattern, while the open block is a fence

    def add(self, text: str) -> int:
        scanned = len(self._open)
        self._open += text
        if "\n" not in text and "\r" not in text:
            return self.settled  # no new complete line
        line_start = max(self._open.rfind("\n", 0, scanned), self._open.rfind("\r", 0, scanned)) + 1
        if self._fence is not None and not re.search(self._fence, self._open[line_start:], re.MULTILINE):
            return self.settled  # inside a code fence that no new line closes
        cut = settled_end(self._open)
        self.settled += cut
        self._open = self._open[cut:]
        self._fence = _open_fence(self._open)
        return self.settled


def _open_fence(text: str) -> str | None:
    """If ``text`` starts with a code fence that none of its lines closes yet, the pattern
    of the line that would. (Only ever a shortcut: a wrong guess delays a cut, never
    makes a wrong one, as the parser has the last word.)"""
    opening = _FENCE.match(text)
    if opening is None:
        return None
    closing = _FENCE_CLOSE % (re.escape(opening[1][0]), len(opening[1]))
    first_line_end = _NEWLINE.search(text)
    if first_line_end and re.search(closing, text[first_line_end.end():], re.MULTILINE):
        return None
    return closing


@dataclass(frozen=True)
class Shown:
    """A reply being written, as a view shows it: its finished blocks rendered, then the rest."""
    blocks: Markup
    tail: str
    settled: int  # characters the blocks come from

    @property
    def end(self) -> int:
        return self.settled + len(self.tail)


@lru_cache(maxsize=256)
def shown(text: str) -> Shown:
    """How to show ``text`` (a reply as stored so far); cached, as every view that opens
    the reply at once (a page, its socket) asks for the same text."""
    settled = settled_end(text)
    return Shown(render_markdown(text[:settled]) if settled else Markup(""), text[settled:], settled)


@dataclass(frozen=True)
class Update:
    """What changes in a view: ``blocks`` newly finished (they go before the tail, and the
    tail becomes ``tail``), or none (``tail`` is appended to the tail)."""
    blocks: Markup | None
    tail: str


class Follower:
    """What one view has shown of a reply being written, and what to send it next."""

    def __init__(self, start: Shown) -> None:
        self.settled = start.settled
        self.tail = start.tail

    @property
    def end(self) -> int:
        return self.settled + len(self.tail)

    def add(self, offset: int, text: str, settled: int) -> Update | None:
        """Text from ``offset`` on, with finished blocks up to ``settled``; None if the view
        has it all already. The caller sees to it that ``offset`` is not past ``end``."""
        new = text[self.end - offset:]
        if not new:
            return None
        self.tail += new
        if settled <= self.settled:
            return Update(None, new)
        cut = settled - self.settled
        blocks = render_markdown(self.tail[:cut])
        self.settled, self.tail = settled, self.tail[cut:]
        return Update(blocks, self.tail)
