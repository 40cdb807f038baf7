"""Search: a user's chats by title and by what was said in them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from .store import MARK_END, MARK_START, SearchHit, Store

MAX_TERMS = 8  # words of a query that count; more narrow nothing a person would notice
MAX_TERM = 64  # characters: a longer "word" is no word anyone searches for
RESULTS = 30
_WORD = re.compile(r"[^\W_]+")  # letters and digits: what the indexes take for a word


@dataclass(frozen=True)
class Results:
    query: str
    terms: list[str]
    titles: list[SearchHit]  # chats whose titles match
    messages: list[SearchHit]  # messages that match, newest first


def terms_of(query: str) -> list[str]:
    """The words of a query, as the indexes see words (punctuation is never syntax)."""
    return [word for word in _WORD.findall(query) if len(word) <= MAX_TERM][:MAX_TERMS]


def search(store: Store, owner_id: str, query: str, limit: int = RESULTS) -> Results:
    query = " ".join(query.split())
    terms = terms_of(query)
    hits = store.search(owner_id, terms, limit) if terms else []
    return Results(query, terms, [h for h in hits if h.message_id is None], [h for h in hits if h.message_id])


def highlighted(snippet: str) -> Markup:
    """A hit's snippet as HTML: its text escaped, the words found in <mark>."""
    return Markup(str(escape(snippet)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))
