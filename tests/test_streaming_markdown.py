"""Markdown shown while it streams: finished blocks rendered once, exactly as in the whole
reply, whatever the chunks; only the unfinished block is raw text."""
import random

import pytest

from chatbot.rendering import render_markdown
from chatbot.streaming_markdown import Follower, Settler, settled_end, shown
from tests.test_math import HOSTILE
from tests.test_rendering import DANGEROUS, elements

CORPUS = {
    "paragraphs": "First paragraph with *emphasis*\nand a second line.\n\nSecond paragraph.\n\nThird.",
    "headings": "# Title\nText under it.\n\n## Sub\n\nSetext heading\n===\n\nAnother\n---\nAfter.",
    "heading then hash text": "Para\n#notaheading\n\n# real\n#also-not",
    "lists": "- one\n- two\n\n- loose three\n\n1. first\n2. second\n   continued\n\n3) other\n\nAfter the list.",
    "nested lists": "- a\n  - b\n    - c\n- d\n\n  paragraph in d\n\ntext",
    "list interrupts paragraph": "Para\n1. item\n\npara\n- item\n-\n\nEnd",
    "fences": "Before\n```python\ndef f(x):\n    return x ** 2\n```\nAfter\n\n~~~\ntilde\n```\nstill code\n~~~~\n\n````md\n```\ninner\n```\n````\nend",
    "unclosed fence": "Text\n\n```js\nconst a = 1;\nconst b = 2;\n",
    "indented code": "Para\n\n    code line 1\n\n    code line 2\n\nback to text",
    "tables": "| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |\n\nNot | a table\n\nx | y\n--|--\n1 | 2\nafter",
    "table after paragraph": "Intro line\n| h1 | h2 |\n| -- | -- |\n| v1 | v2 |\n\nOutro",
    "blockquotes": "> quoted\nlazy continuation\n> more\n\n> second quote\n\nplain",
    "rules": "above\n\n---\n\n***\nbelow\n___",
    "reference lookalikes": "[a]: http://example.com\n\nSee [a] and [b].\n\n[b]: /x",
    "crlf": "one\r\ntwo\r\n\r\nthree\r\n```\r\ncode\r\n```\r\nend",
    "bare cr": "one\rtwo\r\rthree",
    "html and xss": "<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>\n\n"
                    "```html\n</code></pre><script>alert(1)</script>\n```\n\n<div hx-get=\"/logout\">x</div>",
    "maths": "Euler: $e^{i\\pi} + 1 = 0$ and \\(a^2\\).\n\n$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$\n\n"
             "\\[ \\sum_{n=1}^{\\infty} \\frac{1}{n^2} \\]\n\nNot maths: `$x$` and\n\n```\n$$y$$\n```\n\n"
             "Bad: $\\frac{1}{$ and $$\\unknowncommand$$ end.",
    "long reply": "\n\n".join(
        f"## Step {n}\n\nSome prose about step {n} with `code` and **bold**.\n\n"
        f"- point {n}.1\n- point {n}.2\n\n```python\nprint({n})\n```\n\n| k | v |\n|---|---|\n| {n} | {n * n} |"
        for n in range(6)),
}


@pytest.mark.parametrize("name", CORPUS)
def test_the_settled_part_renders_as_the_start_of_the_whole(name):
    text = CORPUS[name]
    whole = render_markdown(text)
    cuts = [0]
    for end in range(len(text) + 1):
        settled = settled_end(text[:end])
        assert cuts[-1] <= settled <= end, (end, settled)
        assert whole.startswith(render_markdown(text[:settled])), (end, text[:settled])
        if settled > cuts[-1]:
            cuts.append(settled)
    if name == "long reply":
        assert len(cuts) >= 25  # block after block, not all at the end


def chunkings(text):
    """The text cut into chunks at every kind of boundary."""
    yield list(text)  # a character at a time
    yield text.splitlines(keepends=True)  # line by line
    yield [text]  # all at once
    yield [part + "\n" for part in text.split("\n")[:-1]] + [text.split("\n")[-1]]
    for seed in range(4):
        rng, chunks, at = random.Random(seed), [], 0
        while at < len(text):
            size = rng.randint(1, 12)
            chunks.append(text[at:at + size])
            at += size
        yield chunks


@pytest.mark.parametrize("name", CORPUS)
def test_streamed_blocks_and_the_last_tail_make_the_full_render(name):
    text = CORPUS[name]
    for chunks in chunkings(text):
        settler, view, offset, shown_html = Settler(), Follower(shown("")), 0, []
        for chunk in chunks:
            settled = settler.add(chunk)
            assert settled == settled_end(text[:offset + len(chunk)])  # the shortcut changes nothing
            update = view.add(offset, chunk, settled)
            offset += len(chunk)
            if update and update.blocks is not None:
                shown_html.append(update.blocks)
                assert update.tail == view.tail
        assert "".join(shown_html) + str(render_markdown(view.tail)) == str(render_markdown(text))
        assert view.end == len(text)


@pytest.mark.parametrize("name", CORPUS)
def test_a_view_opened_mid_reply_carries_on_from_the_stored_text(name):
    text = CORPUS[name]
    cut = len(text) // 2
    opened = shown(text[:cut])
    settler = Settler()
    settler.add(text[:cut])
    view = Follower(opened)
    html = [opened.blocks]
    for start, chunk in [(cut, text[cut:cut + 5]), (cut + 5, text[cut + 5:])]:
        update = view.add(start, chunk, settler.add(chunk))
        if update and update.blocks is not None:
            html.append(update.blocks)
    assert "".join(html) + str(render_markdown(view.tail)) == str(render_markdown(text))


def test_text_seen_already_is_skipped():
    view = Follower(shown("Hello\n\nwor"))  # one block so far: none finished
    assert view.settled == 0 and view.tail == "Hello\n\nwor"
    assert view.add(0, "Hello\n\nwor", 0) is None
    update = view.add(5, "\n\nworld", 0)
    assert update.blocks is None and update.tail == "ld"
    update = view.add(5, "\n\nworld!\n", 7)
    assert update.blocks == "<p>Hello</p>\n" and update.tail == "world!\n" and view.tail == "world!\n"


def test_a_settler_does_not_parse_a_long_fence_line_by_line(monkeypatch):
    from chatbot import streaming_markdown

    parses = []
    real = streaming_markdown.settled_end
    monkeypatch.setattr(streaming_markdown, "settled_end", lambda *a: parses.append(1) or real(*a))
    settler = Settler()
    settler.add("Intro\n\n```python\n")
    before = len(parses)
    for n in range(200):
        settler.add(f"line_{n} = {n}\n")
    assert len(parses) == before  # no line of it could close the fence
    settler.add("```\n")
    assert settler.settled == len("Intro\n\n")  # the fence is the last block still...
    settler.add("After\n")
    assert settler.settled > len("Intro\n\n```python\n")  # ...until a block follows it


@pytest.mark.parametrize("source", DANGEROUS + HOSTILE)
def test_hostile_text_streamed_in_pieces_renders_as_the_whole_does(source):
    """Every hostile input of the renderer's tests and the maths', split every way: what the
    page is sent adds up to the sanitised whole render, and no piece of it is more."""
    whole = str(render_markdown(source))
    for chunks in chunkings(source):
        settler, view, offset, sent = Settler(), Follower(shown("")), 0, []
        for chunk in chunks:
            update = view.add(offset, chunk, settler.add(chunk))
            offset += len(chunk)
            if update and update.blocks is not None:
                sent.append(update.blocks)
                assert "<script" not in update.blocks and "javascript:" not in update.blocks.lower()
                assert not any(name.startswith("on") for _, attributes in elements(update.blocks)
                               for name, _ in attributes)
        assert "".join(sent) + str(render_markdown(view.tail)) == whole


def test_dangerous_text_split_across_chunks_is_still_sanitised():
    text = CORPUS["html and xss"]
    for chunks in chunkings(text):
        settler, view, offset = Settler(), Follower(shown("")), 0
        for chunk in chunks:
            update = view.add(offset, chunk, settler.add(chunk))
            offset += len(chunk)
            if update and update.blocks is not None:
                for tag, attributes in elements(update.blocks):
                    assert tag in {"p", "a", "pre", "code", "span"}, tag
                    assert all(name in {"href", "rel", "class", "data-language"} for name, _ in attributes)
                    assert "javascript:" not in str(attributes).lower()
