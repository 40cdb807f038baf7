"""Conversations become trees. Each message has a parent (the message it answers or follows)
and each chat a current leaf (the last message of the version shown), so an edited message
or a regenerated reply is a new version beside the old one, which stays. Existing chats
become one branch: each message's parent is the one before it, the leaf the last one.

Also, for what comes with models: a chat's model parameters (JSON), and why a reply ended
(``finish_reason``: "length" when the model's output limit cut it off, which Continue
carries on from).

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite has them): no copy of the tables, whose partial indexes stay.
    op.add_column("messages", sa.Column("parent_id", sa.Uuid(as_uuid=False)))
    op.add_column("messages", sa.Column("finish_reason", sa.String(20)))
    op.add_column("chats", sa.Column("current_leaf", sa.Uuid(as_uuid=False)))
    op.add_column("chats", sa.Column("parameters", sa.Text, nullable=False, server_default="{}"))
    op.execute("UPDATE messages SET parent_id = (SELECT p.id FROM messages p WHERE p.chat_id = messages.chat_id"
               " AND p.seq < messages.seq ORDER BY p.seq DESC LIMIT 1)")
    op.execute("UPDATE chats SET current_leaf = (SELECT m.id FROM messages m WHERE m.chat_id = chats.id"
               " ORDER BY m.seq DESC LIMIT 1)")
    # A message's versions (its parent's children), and a chat's first messages (no parent).
    op.create_index("messages_children", "messages", ["chat_id", "parent_id", "seq"])


def downgrade() -> None:
    op.drop_index("messages_children", "messages")
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("parameters")
        chats.drop_column("current_leaf")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("finish_reason")
        messages.drop_column("parent_id")
