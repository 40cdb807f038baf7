"""Folders: a user's named groups of chats (a chat is in one folder or none).

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("owner_id", sa.Uuid(as_uuid=False), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("folders_owner_name", "folders", ["owner_id", sa.text("lower(name)")], unique=True)
    # A plain ADD COLUMN (SQLite has it; the reference is kept by the store, which empties a
    # folder before deleting it).
    op.add_column("chats", sa.Column("folder_id", sa.Uuid(as_uuid=False)))


def downgrade() -> None:
    with op.batch_alter_table("chats") as chats:
        chats.drop_column("folder_id")
    op.drop_index("folders_owner_name", "folders")
    op.drop_table("folders")
