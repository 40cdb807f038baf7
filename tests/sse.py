"""A small server-sent events reader over a streaming ``requests`` response."""
from __future__ import annotations

import html
import re
from typing import Iterator


def events(response) -> Iterator[dict]:
    """Yield {"id", "data", "comment"} for each event, as a browser's parser would."""
    event = {"id": None, "data": [], "comment": None}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if event["data"] or event["comment"] is not None:
                yield {"id": event["id"], "data": "\n".join(event["data"]), "comment": event["comment"]}
            event = {"id": None, "data": [], "comment": None}
        elif line.startswith(":"):
            event["comment"] = line[1:].strip()
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                event["data"].append(value)
            elif field == "id":
                event["id"] = value


def delta_text(data: str) -> str:
    """The text of a delta event: ``<span>escaped text</span>``."""
    match = re.fullmatch(r"<span>(.*)</span>", data, re.S)
    return html.unescape(match.group(1)) if match else ""
