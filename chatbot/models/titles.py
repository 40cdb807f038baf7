"""What a model is asked for a chat's title, and what is kept of its answer."""
from __future__ import annotations

import re
from typing import Iterator

from . import Piece

PROMPT = ("Write a title for the conversation below: at most six words, in the language of the conversation, "
          "no quotation marks, no full stop at the end. Answer with the title alone.")
EXCERPT = 1500  # characters of the first message and of its reply that the title is written from
READ_AT_MOST = 200  # characters of the answer read: a model that rambles is cut off there
MAX_CHARS = 80  # the longest title kept


def conversation(question: str, reply: str) -> list[dict]:
    """The request for a title of a chat that began with ``question`` and ``reply``."""
    return [{"role": "system", "content": PROMPT},
            {"role": "user", "content": f"User: {question[:EXCERPT]}\n\nAssistant: {reply[:EXCERPT]}"}]


def read(stream: Iterator[Piece]) -> str:
    """The text of a model's answer, up to READ_AT_MOST characters (then the request is closed)."""
    text: list[str] = []
    try:
        for piece in stream:
            if isinstance(piece, str):
                text.append(piece)
                if sum(map(len, text)) >= READ_AT_MOST:
                    break
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    return "".join(text)


def clean(text: str) -> str:
    """A title as a model wrote it, made fit for the list: its first line, without a
    "Title:" label, quotes, markdown emphasis or a final full stop; "" if nothing is left."""
    text = re.sub(r"<think>.*?(</think>|$)", "", text, flags=re.S | re.I)  # a reasoning model's thoughts
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = re.sub(r"\*\*|__|[*`]", "", line)  # markdown emphasis and code
    line = re.sub(r"^\s*(#+\s*)?(title\s*:\s*)?", "", line, flags=re.I)
    line = " ".join(line.strip().strip("\"'“”‘’«»").split()).rstrip(".。")
    if len(line) > MAX_CHARS:
        line = line[:MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return line
