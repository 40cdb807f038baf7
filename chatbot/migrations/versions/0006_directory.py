"""Roles and standing of accounts, the app's own settings (the sign-up policy), invitations,
and an index for counting a user's replies being written.

The first account of an existing install becomes its admin, as the first account of a new
one does.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("role", sa.String(20), nullable=False, server_default="user"))
        users.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="active"))
    op.execute("UPDATE users SET role = 'admin' WHERE id = "
               "(SELECT id FROM users ORDER BY created_at, id LIMIT 1)")
    # For the limit on replies written at once per user: their streaming replies, found at once.
    op.create_index("messages_streaming_by_owner", "messages", ["owner_id"],
                    sqlite_where=sa.text("status = 'streaming'"), postgresql_where=sa.text("status = 'streaming'"))
    op.create_table(
        "app_settings",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.Uuid(as_uuid=False), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_by", sa.Uuid(as_uuid=False), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("invitations")
    op.drop_table("app_settings")
    op.drop_index("messages_streaming_by_owner", "messages")
    with op.batch_alter_table("users") as users:
        users.drop_column("status")
        users.drop_column("role")
