"""Share links (read-only snapshots of chats, found by their token) and where an imported
chat came from (so the same file imported twice adds nothing).

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("owner_id", sa.Uuid(as_uuid=False), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("chat_id", sa.Uuid(as_uuid=False), sa.ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("with_files", sa.Boolean, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("messages", sa.Text, nullable=False),  # the snapshot, as JSON
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("shares_owner", "shares", ["owner_id", "created_at"])
    op.create_index("shares_chat", "shares", ["chat_id"])
    op.add_column("chats", sa.Column("import_key", sa.String(200)))
    op.create_index("chats_owner_import_key", "chats", ["owner_id", "import_key"], unique=True)


def downgrade() -> None:
    op.drop_index("chats_owner_import_key", "chats")
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("import_key")
    op.drop_index("shares_chat", "shares")
    op.drop_index("shares_owner", "shares")
    op.drop_table("shares")
