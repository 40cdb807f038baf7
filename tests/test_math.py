"""TeX in replies becomes MathML on the server; prose, code and hostile TeX stay harmless."""
import re
from html.parser import HTMLParser

import pytest
from latex2mathml.converter import convert_to_element

from chatbot.mathml import MATH_ATTRIBUTES, MATH_TAGS, MAX_TEX
from chatbot.rendering import _ATTRIBUTES, _TAGS, render_markdown


def elements(html):
    """Every (tag, attributes, text inside) the browser would build from ``html``."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))
    Collector().feed(str(html))
    return found


def maths(html):
    return [attributes.get("display") for tag, attributes in elements(html) if tag == "math"]


@pytest.mark.parametrize("source, display", [
    ("Euler: $e^{i\\pi} + 1 = 0$.", "inline"),
    ("Euler: \\(e^{i\\pi} + 1 = 0\\).", "inline"),
    ("$$e^{i\\pi} + 1 = 0$$", "block"),
    ("$$\ne^{i\\pi} + 1 = 0\n$$", "block"),
    ("\\[e^{i\\pi} + 1 = 0\\]", "block"),
    ("\\[\ne^{i\\pi} + 1 = 0\n\\]", "block"),
    ("so $$e^{i\\pi} + 1 = 0$$ in a sentence", "block"),
    ("so \\[e^{i\\pi} + 1 = 0\\] in a sentence", "block"),
    ("Hence:\n$$\ne^{i\\pi} + 1 = 0\n$$\nas claimed.", "block"),
    ("> quoted\n> $$\n> e^{i\\pi} + 1 = 0\n> $$", "block"),
    ("- item\n\n  \\[\n  e^{i\\pi} + 1 = 0\n  \\]", "block"),
])
def test_each_delimiter_becomes_mathml(source, display):
    html = render_markdown(source)
    assert maths(html) == [display]
    assert "<msup><mi>e</mi>" in html and "<mi>π</mi>" in html
    assert '<annotation encoding="application/x-tex">e^{i\\pi} + 1 = 0</annotation>' in html  # the source kept
    assert ('<span class="math-display">' in html) == (display == "block")  # scrolls on its own when wide
    assert not any(delimiter in html for delimiter in ("$", "\\(", "\\)", "\\[", "\\]"))


def test_display_math_across_lines_keeps_its_lines_together():
    html = render_markdown("$$\n\\begin{aligned}\na &= b \\\\\n- c &= d\n\\end{aligned}\n$$\n\nAfter.")
    assert maths(html) == ["block"] and "<ul>" not in html and "<mtable" in html and "<p>After.</p>" in html


@pytest.mark.parametrize("tex, expected", [
    ("\\frac{1}{1 + \\frac{1}{1 + \\frac{1}{x}}}", ["mfrac"] * 3),
    ("\\sum_{i=1}^{n} \\frac{1}{i^2}", ["munderover", "mfrac", "msup"]),
    ("\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}", ["msubsup", "msup", "msup", "mfrac", "msqrt"]),
    ("\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix}", ["mtable", "mtr", "mtd", "mtd", "mtr", "mtd", "mtd"]),
    ("\\sqrt[3]{x_1^2 + x_2^2}", ["mroot", "msubsup", "msubsup"]),
    ("\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1", ["msub", "mfrac"]),
])
def test_nested_formulas_keep_their_structure(tex, expected):
    html = render_markdown(f"$${tex}$$")
    structural = {"mfrac", "munderover", "munder", "msub", "msup", "msubsup", "msqrt", "mroot", "mtable", "mtr", "mtd"}
    assert [tag for tag, _ in elements(html) if tag in structural] == expected


@pytest.mark.parametrize("prose", [
    "It costs $5 and $10 with shipping.",
    "Tickets are $5-$10.",
    "Between $1.50 and $2.00 each; $3 for two.",
    "Pay $5, then $6, then $7.",
    "Set $HOME and $PATH first.",
    "The $ sign and another $ sign.",
    "Escaped \\$x\\$ stays text.",
])
def test_dollar_amounts_in_prose_stay_prose(prose):
    html = render_markdown(prose)
    assert "<math" not in html and "<code" not in html
    assert html.count("$") == prose.replace("\\$", "$").count("$")


def test_prose_and_math_in_one_sentence():
    html = render_markdown("For $5 you get $x^2$ and for $10 you get $y$.")
    assert len(maths(html)) == 2 and "For $5 you get" in html and "and for $10 you get" in html


@pytest.mark.parametrize("source, literal", [
    ("Write `$x$` or `\\(x\\)` to get math.", ["$x$", "\\(x\\)"]),
    ("```\n$$\nx^2\n$$\n```", ["$$\nx^2\n$$"]),
    ("```latex\n\\[ \\frac{a}{b} \\]\n```", ["\\frac{a}{b}"]),
    ("    $a$ indented code", ["$a$ indented code"]),
])
def test_math_delimiters_inside_code_stay_literal(source, literal):
    html = render_markdown(source)
    assert "<math" not in html and all(text in re.sub("<[^>]+>", "", html) for text in literal)


@pytest.mark.parametrize("source, shown", [
    ("$\\frac{$", "$\\frac{$"),
    ("$$\\begin{matrix}$$", "$$\\begin{matrix}$$"),
    ("\\(x^\\)", "\\(x^\\)"),
    ("$$\n\\frac{a}{\n\nparagraph", "$$\n\\frac{a}{"),  # a blank line ends display math, closed or not
    ("$\\newcommand{\\a}{x} \\a$", "$\\newcommand{\\a}{x} \\a$"),  # macros can expand exponentially
    ("$<b>\\frac{$ & more", "$&lt;b&gt;\\frac{$"),
])
def test_tex_that_does_not_convert_is_shown_as_escaped_code(source, shown):
    html = render_markdown(source)
    assert "<math" not in html
    assert f'<code class="math-error">{shown}</code>' in html


def test_overlong_tex_is_refused_without_converting():
    tex = "x+" * (MAX_TEX // 2) + "y"
    html = render_markdown(f"$${tex}$$")
    assert "<math" not in html and html.count('class="math-error"') == 1
    assert "<math" in render_markdown(f"$${tex[-MAX_TEX:]}$$")


def test_deeply_nested_tex_is_refused():
    tex = "\\frac{" * 80 + "x" + "}{y}" * 80
    assert "<math" not in render_markdown(f"$${tex}$$")


def test_exponential_macros_are_refused():
    tex = "\\newcommand{\\a}{x}" + "".join(
        f"\\newcommand{{\\{b}}}{{{{\\{a}}}{{\\{a}}}}}" for a, b in zip("abcdefghijklmnopqrs", "bcdefghijklmnopqrst"))
    html = render_markdown(f"$${tex}\\t$$")
    assert "<math" not in html and len(html) < 2 * len(tex)


HOSTILE = [
    "$\\href{javascript:alert(1)}{x}$",
    "$$\\href{javascript:alert(1)}{\\text{click}}$$",
    "$<script>alert(1)</script>$",
    "$$</math><script>alert(1)</script>$$",
    "$\\style{color:red}{x}$",
    "$\\style{background:url(https://evil.example/leak)}{x}$",
    "$\\class{htmx-request}{x}$",
    "$\\color{red}{x} \\colorbox{red}{y} \\fcolorbox{red}{blue}{z}$",
    '\\(x" onmouseover="alert(1)\\)',
    "$\\text{<img src=x onerror=alert(1)>}$",
    "$\\text{</mtext></math><img src=x onerror=alert(1)>}$",
    "$$\\mathrm{<svg onload=alert(1)>}$$",
    "$\\operatorname{<iframe src=javascript:alert(1)>}$",
    "$\\rule{100000em}{100000em}$",
    "$\\hspace{99999em} \\kern{99999em} \\mspace{99999mu}$",
    "$\\text{&lt;script&gt;alert(1)&lt;/script&gt;}$",
    "$\\text{&#x3C;script&#x3E;alert(1)}$",
    "$x$<style>*{display:none}</style>",
    "\\[ \\frac{a}{b} \\] <a href=javascript:alert(1)>x</a>",
    "$" + "{" * 3000 + "$",
    "$$" + "\\sqrt{" * 500 + "x" + "}" * 500 + "$$",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_tex_never_becomes_active_markup(source):
    html = render_markdown(source)
    for tag, attributes in elements(html):
        assert tag in _TAGS, tag
        assert tag not in {"script", "style", "img", "svg", "iframe", "a"}, tag
        for name, value in attributes.items():
            assert name in _ATTRIBUTES.get(tag, set()), (tag, name)
            assert not name.startswith("on") and name not in {"style", "href", "xlink:href", "src"}, name
            assert "javascript" not in (value or "").lower() and "url(" not in (value or "").lower()
            assert len(value or "") < 100  # no lengths that cover the page
    assert "<script" not in html and "<img" not in html and "<style" not in html


def test_latex2mathml_output_is_fully_allowlisted_except_what_we_drop():
    """What latex2mathml really emits, over a spread of TeX: every element is allowed, and the only
    attributes dropped are the ones that carry URLs, styles, classes or colours."""
    dropped = {"xmlns", "href", "style", "class", "mathcolor", "mathbackground", "border-color"}
    corpus = [
        "x_1^2", "\\frac{a}{b}", "\\dfrac{a}{b}", "\\binom{n}{k}", "\\sqrt{x}", "\\sqrt[3]{x}", "\\sum_{i=0}^n",
        "\\int_a^b", "\\lim_{x\\to 0}", "\\overline{x}", "\\underline{x}", "\\hat{x}", "\\vec{v}", "\\overbrace{a}^{b}",
        "\\underbrace{a}_{b}", "\\left( \\frac{a}{b} \\right)", "\\begin{matrix}a&b\\\\c&d\\end{matrix}",
        "\\begin{array}{c|l}a&b\\\\ \\hline c&d\\end{array}", "\\begin{cases}1 & x>0\\\\0&\\text{else}\\end{cases}",
        "\\begin{aligned}a&=b\\\\c&=d\\end{aligned}", "\\mathbb{R} \\mathbf{x} \\mathcal{A} \\mathfrak{g} \\mathrm{d}",
        "\\text{if } x", "\\quad \\qquad \\, \\; \\!", "\\phantom{x}", "\\boxed{x}", "\\cancel{x}", "\\xrightarrow{f}",
        "\\overset{a}{b}", "\\underset{a}{b}", "\\large x \\small y", "\\displaystyle \\sum x", "\\operatorname{sgn} x",
        "\\href{https://example.com}{x}", "\\style{color:red}{x}", "\\class{c}{x}", "\\color{red} x",
        "\\colorbox{red}{x}", "\\fcolorbox{red}{blue}{x}", "\\rule{1em}{1em}", "\\smash{x}", "\\not= \\neq",
        "a \\bmod b", "\\pmod{n}", "\\sideset{_1^2}{_3^4}\\sum", "\\substack{a\\\\b}", "\\tfrac12", "\\mid \\|",
    ]
    seen = set()
    for tex in corpus:
        for element in convert_to_element(tex, display="block").iter():
            assert element.tag in MATH_TAGS, (tex, element.tag)
            seen.add(element.tag)
            for name in element.attrib:
                assert name in MATH_ATTRIBUTES[element.tag] or name in dropped, (tex, element.tag, name)
    assert {"mfrac", "msqrt", "mroot", "mtable", "munderover", "mstyle", "menclose", "mpadded"} <= seen


def test_a_reply_with_math_shows_mathml_on_the_page(client, auth, store):
    from chatbot.store import COMPLETE
    from tests.conftest import new_chat

    auth.signup()
    chat_id = new_chat(client)
    owner = store.user_by_email("ada@example.com").id
    store.add_message(owner, chat_id, "assistant", "So $x^2$ and\n\n$$\n\\frac{1}{2}\n$$", COMPLETE)
    html = client.get(f"/chats/{chat_id}").text
    assert '<math display="inline">' in html and '<span class="math-display"><math display="block">' in html


WIDE = r"""Inline $a_1+a_2+a_3+a_4+a_5+a_6+a_7+a_8+a_9+a_{10}+a_{11}+a_{12}+a_{13}+a_{14}+a_{15}+a_{16}+a_{17}$ here.

$$
\sum_{i=1}^{n} \frac{a+b+c+d+e+f+g+h+i+j+k+l}{m+n+o+p+q+r+s+t+u+v+w+x+y+z} + \int_0^\infty e^{-x^2}\,dx
$$

```python
def a_function_with_a_long_name(argument_one, argument_two, argument_three, argument_four):
    return argument_one
```
"""


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_wide_math_and_code_scroll_inside_themselves_on_a_phone(scheme):
    """At 390px nothing pushes the page or the conversation sideways, and the code's label is
    not copied with it."""
    import shutil
    from pathlib import Path

    from tests.conftest import require_service

    executable = shutil.which("chromium")
    if not executable:
        require_service("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    static = Path(__file__).resolve().parent.parent / "chatbot" / "static"
    styles = "".join(f"<style>{(static / name).read_text()}</style>" for name in ("app.css", "pygments.css"))
    page_html = (f'<!doctype html><meta name="viewport" content="width=device-width">{styles}<div class="app">'
                 '<aside class="sidebar"></aside><main class="conversation"><div class="messages"><article class="message">'
                 f'<div class="message-text markdown">{render_markdown(WIDE)}</div></article></div></main></div>')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme=scheme)
            page.set_content(page_html)
            found = page.evaluate("""() => {
                const wide = e => e.scrollWidth > e.clientWidth;
                const pre = document.querySelector('pre'), selection = window.getSelection();
                selection.selectAllChildren(pre);
                return {page: wide(document.documentElement), messages: wide(document.querySelector('.messages')),
                        display: wide(document.querySelector('.math-display')), pre: wide(pre),
                        copied: selection.toString(), label: getComputedStyle(pre, '::before').content,
                        background: getComputedStyle(pre).backgroundColor};
            }""")
        finally:
            browser.close()
    assert not found["page"] and not found["messages"]
    assert found["display"] and found["pre"]  # each scrolls in its own box
    assert found["label"] == '"python"' and found["copied"].startswith("def a_function")
    assert found["background"] == {"light": "rgb(248, 248, 248)", "dark": "rgb(13, 17, 23)"}[scheme]
