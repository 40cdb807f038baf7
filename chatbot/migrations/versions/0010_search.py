"""Full-text search over one's chat titles and messages.

SQLite: FTS5 tables over the messages' text and the chats' titles (external content: the
text is not stored twice), kept up to date by triggers. Each row also indexes its owner's
id as a word, so a search walks only its owner's matches. A reply being written is left out
until it is done: its text changes several times a second, and indexing each change would
cost more than the reply. Words of three and four letters are indexed as prefixes too
(prefix='3 4'): without them a search as you type ("lig") merges every word that begins so,
some hundred times slower on a big history.

PostgreSQL: each finished message's words as a tsvector (the 'simple' configuration: no
language's stemming, as in SQLite) in a narrow table of its own, message_words, kept by a
trigger (a reply being written has no row until it is done), with a GIN index and an index
of each owner's rows by time: a common word is found among the newest at once, a rare one
through the GIN index (see sqlsearch). Its own table, so the messages' rows stay as narrow
as they were for every other query.

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SQLITE = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, owner_id, content='messages', content_rowid='rowid',"
    " prefix='3 4')",
    "INSERT INTO messages_fts (rowid, content, owner_id) SELECT rowid, content, owner_id FROM messages"
    " WHERE status <> 'streaming'",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (rowid, content, owner_id) VALUES (new.rowid, new.content, new.owner_id);
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, owner_id)
        VALUES ('delete', old.rowid, old.content, old.owner_id);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, status ON messages
    WHEN old.status <> 'streaming' OR new.status <> 'streaming' BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content, owner_id)
        SELECT 'delete', old.rowid, old.content, old.owner_id WHERE old.status <> 'streaming';
        INSERT INTO messages_fts (rowid, content, owner_id)
        SELECT new.rowid, new.content, new.owner_id WHERE new.status <> 'streaming';
    END""",
    "CREATE VIRTUAL TABLE chats_fts USING fts5(title, owner_id, content='chats', content_rowid='rowid', prefix='3 4')",
    "INSERT INTO chats_fts (rowid, title, owner_id) SELECT rowid, title, owner_id FROM chats",
    """CREATE TRIGGER chats_fts_insert AFTER INSERT ON chats BEGIN
        INSERT INTO chats_fts (rowid, title, owner_id) VALUES (new.rowid, new.title, new.owner_id);
    END""",
    """CREATE TRIGGER chats_fts_delete AFTER DELETE ON chats BEGIN
        INSERT INTO chats_fts (chats_fts, rowid, title, owner_id) VALUES ('delete', old.rowid, old.title, old.owner_id);
    END""",
    """CREATE TRIGGER chats_fts_update AFTER UPDATE OF title ON chats BEGIN
        INSERT INTO chats_fts (chats_fts, rowid, title, owner_id) VALUES ('delete', old.rowid, old.title, old.owner_id);
        INSERT INTO chats_fts (rowid, title, owner_id) VALUES (new.rowid, new.title, new.owner_id);
    END""",
]
POSTGRESQL = [
    """CREATE TABLE message_words (
        message_id uuid PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
        owner_id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        words tsvector NOT NULL)""",
    "CREATE INDEX message_words_search ON message_words USING gin (words)",
    "CREATE INDEX message_words_recent ON message_words (owner_id, created_at)",
    """CREATE FUNCTION index_message_words() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.status = 'streaming' THEN
            DELETE FROM message_words WHERE message_id = NEW.id;
        ELSE
            INSERT INTO message_words VALUES (NEW.id, NEW.owner_id, NEW.created_at, to_tsvector('simple', NEW.content))
            ON CONFLICT (message_id) DO UPDATE SET words = excluded.words;
        END IF;
        RETURN NULL;
    END $$""",
    # Nothing runs while a reply is written (streaming before and after).
    """CREATE TRIGGER messages_words_insert AFTER INSERT ON messages
        FOR EACH ROW WHEN (NEW.status <> 'streaming') EXECUTE FUNCTION index_message_words()""",
    """CREATE TRIGGER messages_words_update AFTER UPDATE OF content, status ON messages
        FOR EACH ROW WHEN (OLD.status <> 'streaming' OR NEW.status <> 'streaming') EXECUTE FUNCTION index_message_words()""",
    "INSERT INTO message_words SELECT id, owner_id, created_at, to_tsvector('simple', content) FROM messages"
    " WHERE status <> 'streaming'",
    "CREATE INDEX chats_search ON chats USING gin (to_tsvector('simple', title))",
]


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("messages_fts_insert", "messages_fts_delete", "messages_fts_update",
                     "chats_fts_insert", "chats_fts_delete", "chats_fts_update"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE messages_fts")
        op.execute("DROP TABLE chats_fts")
    else:
        op.execute("DROP INDEX chats_search")
        op.execute("DROP TRIGGER messages_words_insert ON messages")
        op.execute("DROP TRIGGER messages_words_update ON messages")
        op.execute("DROP FUNCTION index_message_words()")
        op.execute("DROP TABLE message_words")
