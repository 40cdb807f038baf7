"""Full-text search for the SQL store: FTS5 on SQLite, tsvector with GIN indexes on
PostgreSQL (both made by migration 0010). Newest first: a search as you type wants the
recent conversation, and the newest-first walk of an index stops after ``limit`` hits
however common the words are.

On SQLite the full-text table is the outer loop (CROSS JOIN fixes SQLite's join order):
left to choose, SQLite may walk the owner's chats by date and run the match once per chat,
some hundred times slower for a user with thousands of chats."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .sqlstore import _Id
from .store import MARK_END, MARK_START, PREFIX_FROM, SearchHit, as_tsquery

SNIPPET_WORDS = 16

_SQLITE_MESSAGES = sa.text(f"""
    SELECT m.id, m.chat_id, m.seq, m.role, m.created_at, c.title,
           snippet(messages_fts, 0, :start, :end, '…', {SNIPPET_WORDS}) AS snippet
      FROM messages_fts CROSS JOIN messages m ON m.rowid = messages_fts.rowid JOIN chats c ON c.id = m.chat_id
     WHERE messages_fts MATCH :match AND m.owner_id = :owner
     ORDER BY messages_fts.rowid DESC LIMIT :limit""")
_SQLITE_TITLES = sa.text("""
    SELECT c.id, c.title, c.updated_at, highlight(chats_fts, 0, :start, :end) AS snippet
      FROM chats_fts CROSS JOIN chats c ON c.rowid = chats_fts.rowid
     WHERE chats_fts MATCH :match AND c.owner_id = :owner
     ORDER BY c.updated_at DESC LIMIT :limit""")

# The newest matches first, their snippets made for those alone (ts_headline reads the
# text). Two ways to find them, as a word is common or rare: among the owner's newest
# RECENT messages, walked by time (a third of a microsecond a row: a common word fills the
# page at once), and, when those hold fewer than a page of hits, all the owner's matches
# through the GIN index (a word that rare has few to sort). Either alone is slow for the
# other kind of word; and left to itself PostgreSQL may walk all the owner's messages by
# time for a rare one (it cannot tell a prefix query's frequency), so the second gathers
# its matches first (MATERIALIZED), which only the GIN index does well.
RECENT = 20_000
_POSTGRES_FOUND = f"""
    SELECT m.id, m.chat_id, m.seq, m.role, m.created_at, c.title,
           ts_headline('simple', m.content, to_tsquery('simple', :query),
                       'StartSel=' || :start || ', StopSel=' || :end || ', MaxWords={SNIPPET_WORDS}, MinWords=6,'
                       || ' MaxFragments=1, FragmentDelimiter=…') AS snippet
      FROM ({{hits}}) hit JOIN messages m ON m.id = hit.message_id JOIN chats c ON c.id = m.chat_id
     ORDER BY m.created_at DESC, m.id"""
_POSTGRES_RECENT = sa.text(_POSTGRES_FOUND.format(hits=f"""
    SELECT recent.message_id FROM (SELECT * FROM message_words w WHERE w.owner_id = :owner
                                    ORDER BY w.created_at DESC LIMIT {RECENT}) recent
     WHERE recent.words @@ to_tsquery('simple', :query)
     ORDER BY recent.created_at DESC, recent.message_id LIMIT :limit"""))
_POSTGRES_MESSAGES = sa.text(_POSTGRES_FOUND.format(hits="""
    WITH matched AS MATERIALIZED (
        SELECT w.message_id, w.created_at FROM message_words w
         WHERE w.words @@ to_tsquery('simple', :query) AND w.owner_id = :owner)
    SELECT matched.message_id FROM matched ORDER BY matched.created_at DESC, matched.message_id LIMIT :limit"""))
_POSTGRES_TITLES = sa.text("""
    SELECT c.id, c.title, c.updated_at,
           ts_headline('simple', c.title, to_tsquery('simple', :query),
                       'StartSel=' || :start || ', StopSel=' || :end || ', HighlightAll=true') AS snippet
      FROM chats c
     WHERE to_tsvector('simple', c.title) @@ to_tsquery('simple', :query) AND c.owner_id = :owner
     ORDER BY c.updated_at DESC, c.id LIMIT :limit""")


# Ids as the store gives them (text queries would hand back SQLite's stored form), times as datetimes.
_ID = _Id()
for _name in ("_SQLITE_MESSAGES", "_SQLITE_TITLES", "_POSTGRES_RECENT", "_POSTGRES_MESSAGES", "_POSTGRES_TITLES"):
    _query = globals()[_name].bindparams(sa.bindparam("owner", type_=_ID))
    globals()[_name] = _query.columns(id=_ID, chat_id=_ID, created_at=sa.DateTime(timezone=True),
                                      updated_at=sa.DateTime(timezone=True))


def search(db: Connection, owner_id: str, terms: list[str], limit: int) -> list[SearchHit]:
    if not terms:
        return []
    marks = {"start": MARK_START, "end": MARK_END, "owner": owner_id, "limit": limit}
    if db.dialect.name == "sqlite":
        # Each term quoted (nothing in it is FTS5 syntax), the last one a prefix if long
        # enough; and the owner's id, which each row indexes as a word.
        words = " AND ".join(f'"{term}"' for term in terms) + ("*" if len(terms[-1]) >= PREFIX_FROM else "")
        owner = f'owner_id : "{owner_id.replace("-", "")}"'
        titles = db.execute(_SQLITE_TITLES, {**marks, "match": f"{owner} AND title : ({words})"}).all()
        found = db.execute(_SQLITE_MESSAGES, {**marks, "match": f"{owner} AND content : ({words})"}).all()
    else:
        query = as_tsquery(terms)
        titles = db.execute(_POSTGRES_TITLES, {**marks, "query": query}).all()
        found = db.execute(_POSTGRES_RECENT, {**marks, "query": query}).all()
        if len(found) < limit:
            found = db.execute(_POSTGRES_MESSAGES, {**marks, "query": query}).all()
    hits = [SearchHit(row.id, row.title, row.snippet, _aware(row.updated_at)) for row in titles]
    hits += [SearchHit(row.chat_id, row.title, row.snippet, _aware(row.created_at), row.id, row.seq, row.role)
             for row in found]
    return hits


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite's are naive, UTC
