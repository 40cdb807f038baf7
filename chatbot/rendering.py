"""Markdown to safe HTML: markdown-it renders, Pygments highlights, nh3 sanitises.

Raw HTML in the source is escaped by markdown-it (``html=False``) and whatever still
comes out goes through nh3's allowlist, so no script, event handler, style, ``javascript:``
URL or htmx attribute from a user or a model ever reaches the page as markup.
"""
from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)  # classes only: the CSP forbids inline styles

_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "span", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # no <img>: a model could be tricked into leaking the chat through an image URL
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}


def _highlight(code: str, language: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes and wraps it as plain code
    return f'<pre class="highlight"><code class="language-{language}">{highlight(code, lexer, _FORMATTER)}</code></pre>'


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"])


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> Markup:
    html = _MARKDOWN.render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


def pygments_css() -> str:
    return _FORMATTER.get_style_defs(".highlight")
