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
    """The text a delta event adds to the end of a reply being written."""
    return "".join(html.unescape(t) for t in re.findall(r'beforeend:#tail-[^"]+"><span>(.*?)</span>', data, re.S))


class ShownReply:
    """A reply being written as a page shows it, from the fragments it is sent (socket frames
    or event-stream messages): rendered blocks, then the raw tail; then the finished message."""

    def __init__(self, blocks: str = "", tail: str = "") -> None:
        self.blocks, self.tail, self.final = blocks, tail, None

    @property
    def text(self) -> str:
        """What a person reads: the blocks' text, then the tail's."""
        return self.blocks + self.tail

    def apply(self, data: str) -> None:
        reset = re.search(r'innerHTML:#t-[^"]+">(.*?)<p id="tail-[^"]+" class="tail">(?:<span>(.*?)</span>)?</p></div>', data, re.S)
        if reset:
            self.blocks, self.tail = text_of(reset.group(1)), html.unescape(reset.group(2) or "")
        for blocks in re.findall(r'beforebegin:#tail-[^"]+">(.*?)</div><div hx-swap-oob', data, re.S):
            self.blocks += text_of(blocks)
        for how, text in re.findall(r'(innerHTML|beforeend):#tail-[^"]+">(?:<span>(.*?)</span>)?</div>', data, re.S):
            self.tail = (self.tail if how == "beforeend" else "") + html.unescape(text)
        if data.startswith("<article"):
            self.final = data


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def shown_text(content: str) -> str:
    """What ShownReply.text is once ``content`` has streamed: its finished blocks' text,
    then the rest raw."""
    from chatbot.streaming_markdown import shown

    reply = shown(content)
    return text_of(reply.blocks) + reply.tail
