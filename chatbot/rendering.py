"""Markdown to safe HTML: markdown-it renders, Pygments highlights, TeX becomes MathML, nh3 sanitises.

Raw HTML in the source is escaped by markdown-it (``html=False``) and whatever still
comes out goes through nh3's allowlist, so no script, event handler, style, ``javascript:``
URL or htmx attribute from a user or a model ever reaches the page as markup.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from .mathml import MATH_ATTRIBUTES, MATH_TAGS, math_plugin

_FORMATTER = HtmlFormatter(nowrap=True)  # classes only: the CSP forbids inline styles
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,30}")  # safe as an attribute value and a class name

_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "span", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
} | MATH_TAGS  # no <img>: a model could be tricked into leaking the chat through an image URL
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "pre": {"class", "data-language"},
    "span": {"class"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    **MATH_ATTRIBUTES,
}


def _highlight(code: str, language: str, _attrs: object) -> str:
    """Every fence as ``<pre class="highlight">``, labelled (for the CSS) when its language
    name is safe, and highlighted when Pygments knows the language."""
    if not _LANGUAGE.fullmatch(language):
        return f'<pre class="highlight"><code>{escapeHtml(code)}</code></pre>'
    try:
        body = highlight(code, get_lexer_by_name(language), _FORMATTER)
    except ClassNotFound:
        body = escapeHtml(code)
    return (f'<pre class="highlight" data-language="{language}">'
            f'<code class="language-{language}">{body}</code></pre>')


def _code_block(self: object, tokens: Sequence[Token], idx: int, options: object, env: object) -> str:
    """An indented code block wears the same colours as a fence."""
    return f'<pre class="highlight"><code>{escapeHtml(tokens[idx].content)}</code></pre>\n'


# Reference definitions are off: a definition at the end of a reply would change how a link
# above it renders, after the streaming view has already shown that block (streaming_markdown).
MARKDOWN = (MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
            .enable(["table", "strikethrough"]).disable("reference").use(math_plugin))
MARKDOWN.add_render_rule("code_block", _code_block)


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> Markup:
    html = MARKDOWN.render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


# Code colours: one Pygments style per colour scheme, each token colour moved just far enough
# towards black (light) or white (dark) to reach WCAG AA against the code background.
LIGHT_STYLE, DARK_STYLE = "default", "github-dark"
MIN_CONTRAST = 4.5
_TEXT = {"default": "#1f2328"}  # styles that leave plain text to the page get this colour
_RESET = {"color": "inherit", "font-weight": "normal", "font-style": "normal", "text-decoration": "none",
          "background-color": "transparent", "border": "none"}


def pygments_css() -> str:
    """The light theme for ``.highlight``, then the dark one for ``prefers-color-scheme: dark``.
    The dark rules cover every class the light ones style, so no light colour shows through."""
    light, dark = _theme(LIGHT_STYLE), _theme(DARK_STYLE)
    for selector, (declarations, comment) in light.items():
        own, _ = dark.get(selector, ({}, comment))
        undo = {name: _RESET[name] for name in declarations if name in _RESET and name not in own}
        dark[selector] = ({**own, **undo}, comment)
    return _rules(light, "") + "@media (prefers-color-scheme: dark) {\n" + _rules(dark, "  ") + "}\n"


def _theme(style: str) -> dict[str, tuple[dict[str, str], str]]:
    """Selector -> (declarations, token name) for one Pygments style, colours made readable."""
    formatter = HtmlFormatter(style=style)
    background = formatter.style.background_color
    theme = {".highlight": ({"background": background, "color": _TEXT.get(style, "")}, "")}
    for name, (css, token_type, _) in sorted(formatter.class2style.items(), key=lambda item: (item[1][2], item[0])):
        declarations = dict(part.split(": ", 1) for part in css.split("; "))
        selector = f".highlight .{name}" if name else ".highlight"
        if not name:  # the style's plain-text colour
            theme[selector][0].update(declarations)
            continue
        theme[selector] = (declarations, str(token_type).removeprefix("Token."))
    for declarations, _ in theme.values():
        if declarations.get("color", "").startswith("#"):
            declarations["color"] = readable(declarations["color"], declarations.get("background-color", background))
    return theme


def _rules(theme: dict[str, tuple[dict[str, str], str]], indent: str) -> str:
    lines = []
    for selector, (declarations, comment) in theme.items():
        body = "; ".join(f"{name}: {value}" for name, value in declarations.items() if value)
        lines.append(f"{indent}{selector} {{ {body} }}" + (f" /* {comment} */" if comment else ""))
    return "\n".join(lines) + "\n"


def readable(color: str, background: str) -> str:
    """``color``, mixed towards black or white just enough for 4.5:1 against ``background``."""
    target = (0, 0, 0) if _luminance(_rgb(background)) > 0.18 else (255, 255, 255)
    rgb = _rgb(color)
    for step in range(101):
        mixed = tuple(round(c + (t - c) * step / 100) for c, t in zip(rgb, target))
        if contrast(mixed, _rgb(background)) >= MIN_CONTRAST:
            return color if step == 0 else "#%02x%02x%02x" % mixed
    return "#%02x%02x%02x" % target


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _luminance(rgb: tuple[int, ...]) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _rgb(color: str) -> tuple[int, ...]:
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))
