"""Full-text search for the SQL store: FTS5 on SQLite, tsvector with GIN indexes on
PostgreSQL (both made by migration 0010). Newest first: a search as you type wants the
recent conversation, and the newest-first walk of an index stops after ``limit`` hits
however common the words are."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .sqlstore import _Id
from .store import MARK_END, MARK_START, SearchHit, as_tsquery

SNIPPET_WORDS = 16

_SQLITE_MESSAGES = sa.text(f"""
    SELECT m.id, m.chat_id, m.seq, m.role, m.created_at, c.title,
           snippet(messages_fts, 0, :start, :end, '…', {SNIPPET_WORDS}) AS snippet
      FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid JOIN chats c ON c.id = m.chat_id
     WHERE messages_fts MATCH :match AND m.owner_id = :owner
     ORDER BY messages_fts.rowid DESC LIMIT :limit""")
_SQLITE_TITLES = sa.text("""
    SELECT c.id, c.title, c.updated_at, highlight(chats_fts, 0, :start, :end) AS snippet
      FROM chats_fts JOIN chats c ON c.rowid = chats_fts.rowid
     WHERE chats_fts MATCH :match AND c.owner_id = :owner
     ORDER BY c.updated_at DESC LIMIT :limit""")

# The newest matches first, their snippets made for those alone (ts_headline reads the text).
_POSTGRES_MESSAGES = sa.text(f"""
    SELECT hit.id, hit.chat_id, hit.seq, hit.role, hit.created_at, c.title,
           ts_headline('simple', hit.content, to_tsquery('simple', :query),
                       'StartSel=' || :start || ', StopSel=' || :end || ', MaxWords={SNIPPET_WORDS}, MinWords=6,'
                       || ' MaxFragments=1, FragmentDelimiter=…') AS snippet
      FROM (SELECT m.id, m.chat_id, m.seq, m.role, m.created_at, m.content FROM messages m
             WHERE to_tsvector('simple', m.content) @@ to_tsquery('simple', :query)
               AND m.status <> 'streaming' AND m.owner_id = :owner
             ORDER BY m.created_at DESC, m.id LIMIT :limit) hit
      JOIN chats c ON c.id = hit.chat_id
     ORDER BY hit.created_at DESC, hit.id""")
_POSTGRES_TITLES = sa.text("""
    SELECT c.id, c.title, c.updated_at,
           ts_headline('simple', c.title, to_tsquery('simple', :query),
                       'StartSel=' || :start || ', StopSel=' || :end || ', HighlightAll=true') AS snippet
      FROM chats c
     WHERE to_tsvector('simple', c.title) @@ to_tsquery('simple', :query) AND c.owner_id = :owner
     ORDER BY c.updated_at DESC, c.id LIMIT :limit""")


# Ids as the store gives them (text queries would hand back SQLite's stored form), times as datetimes.
_ID = _Id()
for _name in ("_SQLITE_MESSAGES", "_SQLITE_TITLES", "_POSTGRES_MESSAGES", "_POSTGRES_TITLES"):
    _query = globals()[_name].bindparams(sa.bindparam("owner", type_=_ID))
    globals()[_name] = _query.columns(id=_ID, chat_id=_ID, created_at=sa.DateTime(timezone=True),
                                      updated_at=sa.DateTime(timezone=True))


def search(db: Connection, owner_id: str, terms: list[str], limit: int) -> list[SearchHit]:
    if not terms:
        return []
    marks = {"start": MARK_START, "end": MARK_END, "owner": owner_id, "limit": limit}
    if db.dialect.name == "sqlite":
        # Each term quoted (nothing in it is FTS5 syntax), the last one a prefix; and the
        # owner's id, which each row indexes as a word: only the owner's rows are walked.
        words = " AND ".join(f'"{term}"' for term in terms) + "*"
        owner = f'owner_id : "{owner_id.replace("-", "")}"'
        titles = db.execute(_SQLITE_TITLES, {**marks, "match": f"{owner} AND title : ({words})"})
        found = db.execute(_SQLITE_MESSAGES, {**marks, "match": f"{owner} AND content : ({words})"})
    else:
        query = as_tsquery(terms)
        titles = db.execute(_POSTGRES_TITLES, {**marks, "query": query})
        found = db.execute(_POSTGRES_MESSAGES, {**marks, "query": query})
    hits = [SearchHit(row.id, row.title, row.snippet, _aware(row.updated_at)) for row in titles]
    hits += [SearchHit(row.chat_id, row.title, row.snippet, _aware(row.created_at), row.id, row.seq, row.role)
             for row in found]
    return hits


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite's are naive, UTC
