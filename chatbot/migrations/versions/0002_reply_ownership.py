"""One streaming reply per chat, and which process is writing it.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        # "host:pid:process-start" of the process generating a streaming reply, so a
        # restarted process can tell the replies of a dead one from those still alive.
        batch.add_column(sa.Column("worker", sa.String(255)))
    # The database refuses a second streaming reply in a chat, whatever worker tries.
    op.create_index("messages_one_streaming_per_chat", "messages", ["chat_id"], unique=True,
                    sqlite_where=sa.text("status = 'streaming'"),
                    postgresql_where=sa.text("status = 'streaming'"))


def downgrade() -> None:
    op.drop_index("messages_one_streaming_per_chat", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("worker")
