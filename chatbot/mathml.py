"""TeX in replies rendered to MathML on the server: browsers draw MathML natively, so no math JavaScript.

``$…$`` and ``\\(…\\)`` are inline; ``$$…$$`` and ``\\[…\\]`` are display, inside a paragraph or
on lines of their own. Dollar signs follow Pandoc's rule (no space inside the delimiters, no
digit after the closing one), so "costs $5 and $10" stays prose. latex2mathml converts; its
output is rebuilt here from its element tree with an allowlist of elements and attributes and
with every text escaped (it leaves ``<`` in ``\\text{}`` unescaped and copies ``\\href`` and
``\\style`` through), and nh3 checks it again with the same allowlist. TeX that does not
convert, is too long, or defines macros (which expand exponentially) is shown as code.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from xml.etree.ElementTree import Element

from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_TEX = 2000  # characters of TeX converted at most: bounds the work per formula
MAX_DEPTH = 64  # nesting of the MathML built; deeper is not a formula anyone reads
_SEARCH = MAX_TEX  # how far an inline \( or \[ looks for its closing delimiter (longer is refused anyway)
_MACROS = re.compile(r"\\(?:re)?new(?:command|environment)(?![A-Za-z])|\\def(?![A-Za-z])|\\DeclareMathOperator")
_CLOSERS = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
# amsmath environments latex2mathml does not know (it would show their "&" as text), and their
# nearest equivalents it does: aligned is align* without numbers, gathered a centred column
_ENVIRONMENTS = [
    (re.compile(r"\\begin\{(?:aligned|alignedat|eqnarray\*?)\}(?:\{\d+\})?"), r"\\begin{align*}"),
    (re.compile(r"\\end\{(?:aligned|alignedat|eqnarray\*?)\}"), r"\\end{align*}"),
    (re.compile(r"\\begin\{(?:gathered|gather\*?|multline\*?)\}"), r"\\begin{array}{c}"),
    (re.compile(r"\\end\{(?:gathered|gather\*?|multline\*?)\}"), r"\\end{array}"),
]
_CHARACTER_REFERENCE = re.compile(r"&#x([0-9A-Fa-f]{1,6});")  # how latex2mathml writes symbols
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 .+%-]{0,1000}")  # names, numbers and lengths: no quotes, colons, URLs
_HUGE = re.compile(r"(?<![\d.])\d{3}")  # 100 units or more: a \rule or \hspace out to cover the page

MATH_TAGS = {
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace",
    "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose",
}
_PRESENTATION = {
    "mathvariant", "stretchy", "fence", "separator", "form", "largeop", "movablelimits", "lspace", "rspace",
    "minsize", "maxsize", "accent", "accentunder", "linethickness", "scriptlevel", "displaystyle", "mathsize",
}  # no href, style, class, mathcolor or mathbackground, all of which latex2mathml copies from the TeX
MATH_ATTRIBUTES: dict[str, set[str]] = {tag: set(_PRESENTATION) for tag in MATH_TAGS}
MATH_ATTRIBUTES["math"] |= {"display"}
MATH_ATTRIBUTES["annotation"] = {"encoding"}
MATH_ATTRIBUTES["mtable"] |= {"columnalign", "columnspacing", "rowspacing", "columnlines", "rowlines"}
MATH_ATTRIBUTES["mtd"] |= {"columnalign"}
for _tag in ("mspace", "mpadded"):
    MATH_ATTRIBUTES[_tag] |= {"width", "height", "depth", "voffset"}
MATH_ATTRIBUTES["mspace"] |= {"linebreak"}
MATH_ATTRIBUTES["menclose"] |= {"notation"}


def tex_to_html(tex: str, display: bool, source: str) -> str:
    """MathML for ``tex``, or ``source`` (the TeX with its delimiters) as code if it does not convert."""
    tex = tex.strip()
    if not tex or len(tex) > MAX_TEX or _MACROS.search(tex):
        return _as_code(source)
    try:
        root = convert_to_element(_known_environments(tex), display="block" if display else "inline")
        body = "".join(_serialise(child, 1) for child in root)
    except Exception:  # latex2mathml raises many kinds, RecursionError among them; all mean "not TeX we can show"
        return _as_code(source)
    if len(root) != 1:
        body = f"<mrow>{body}</mrow>"
    annotation = f'<annotation encoding="application/x-tex">{escapeHtml(tex)}</annotation>'
    math = f'<math display="{"block" if display else "inline"}"><semantics>{body}{annotation}</semantics></math>'
    return f'<span class="math-display">{math}</span>' if display else math


def _known_environments(tex: str) -> str:
    for pattern, replacement in _ENVIRONMENTS:
        tex = pattern.sub(replacement, tex)
    return tex


def _as_code(source: str) -> str:
    return f'<code class="math-error">{escapeHtml(source)}</code>'


def _serialise(element: Element, depth: int) -> str:
    """The element as allowlisted markup: unknown elements unwrapped, unknown attributes dropped."""
    if depth > MAX_DEPTH:
        raise ValueError("formula nested too deeply")
    tag = element.tag if isinstance(element.tag, str) else ""
    inner = _text(element.text) + "".join(_serialise(child, depth + 1) for child in element)
    tail = _text(element.tail)
    if tag not in MATH_TAGS:
        return inner + tail
    allowed = MATH_ATTRIBUTES[tag]
    attributes = "".join(f' {name}="{value}"' for name, value in sorted(element.attrib.items())
                         if name in allowed and _SAFE_VALUE.fullmatch(value) and not _HUGE.search(value))
    return f"<{tag}{attributes}>{inner}</{tag}>{tail}"


def _text(text: str | None) -> str:
    if not text:
        return ""
    return escapeHtml(_CHARACTER_REFERENCE.sub(lambda match: chr(int(match[1], 16)), text))


def math_plugin(md: MarkdownIt) -> None:
    """Teach ``md`` the four delimiters and render what they hold as MathML."""
    dollarmath_plugin(md, allow_space=False, allow_digits=False, double_inline=True, allow_labels=False,
                      allow_blank_lines=False)
    md.inline.ruler.before("escape", "math_bracket", _bracket_inline)
    # dollarmath's block rule looks ahead for a closing $$ past blank lines and other blocks, so a
    # closing line could change how lines before it render; ours is a fence: opened by its first line
    md.block.ruler.at("math_block", _display_block, {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.add_render_rule("math_inline", _render(display=False))
    md.add_render_rule("math_inline_double", _render(display=True))
    md.add_render_rule("math_block", _render(display=True, block=True))


def _render(display: bool, block: bool = False) -> Callable[..., str]:
    def render(self: object, tokens: Sequence[Token], idx: int, options: object, env: object) -> str:
        token = tokens[idx]
        closer = token.meta.get("closer", _CLOSERS[token.markup])
        source = token.markup + token.content + closer
        html = tex_to_html(token.content, display, source) if closer else _as_code(source)  # unclosed: not math
        return (f"<p>{html}</p>\n" if html.startswith("<code") else html + "\n") if block else html
    return render


def _bracket_inline(state: StateInline, silent: bool) -> bool:
    r"""``\(…\)`` inline, ``\[…\]`` display (a backslash that markdown would otherwise drop)."""
    start = state.pos
    opener = state.src[start:start + 2]
    if opener not in ("\\(", "\\["):
        return False
    closer = _CLOSERS[opener]
    limit = min(state.posMax, start + 2 + _SEARCH + 2)
    end = state.src.find(closer, start + 2, limit)
    while end != -1 and _backslashes_before(state.src, end) % 2:  # "\\)" is a TeX line break, then ")"
        end = state.src.find(closer, end + 1, limit)
    if end == -1 or end == start + 2:
        return False
    if not silent:
        token = state.push("math_inline" if opener == "\\(" else "math_inline_double", "math", 0)
        token.content = state.src[start + 2:end]
        token.markup = opener
    state.pos = end + 2
    return True


def _backslashes_before(text: str, position: int) -> int:
    count = 0
    while position - count - 1 >= 0 and text[position - count - 1] == "\\":
        count += 1
    return count


def _display_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """``$$`` or ``\\[`` starting a line opens display math, up to the line ending in its closer,
    a blank line, or the end of the container: like a code fence, decided by its first line."""
    if state.is_code_block(start_line):
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    first = state.src[start:state.eMarks[start_line]].rstrip()
    opener = first[:2]
    if opener not in ("$$", "\\["):
        return False
    closer = _CLOSERS[opener]
    rest = first[2:]
    closed = len(rest) >= 2 and rest.endswith(closer)
    if not closed and closer in rest:
        return False  # "$$a$$ and more": inline math in a paragraph
    if silent:
        return True
    lines = [rest[:-2] if closed else rest]
    line = start_line + 1
    while not closed and line < end_line:
        begin = state.bMarks[line] + state.tShift[line]
        text = state.src[begin:state.eMarks[line]].rstrip()
        if not text or state.sCount[line] < state.blkIndent:
            break  # a blank line, or the end of the list item
        closed = text.endswith(closer)
        lines.append(text[:-2] if closed else text)
        line += 1
    state.line = line
    token = state.push("math_block", "math", 0)
    token.block = True
    token.content = "\n".join(lines)
    token.markup = opener
    token.meta = {"closer": closer if closed else ""}
    token.map = [start_line, line]
    return True
