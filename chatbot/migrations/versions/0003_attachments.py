"""Files attached to messages.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("message_id", UUID, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chat_id", UUID, sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner_id", UUID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        # "<owner id>/<attachment id>" in the file store: made by the server, never the upload's name.
        sa.Column("storage_key", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("attachments_chat", "attachments", ["chat_id", "owner_id"])
    op.create_index("attachments_message", "attachments", ["message_id"])


def downgrade() -> None:
    op.drop_table("attachments")
