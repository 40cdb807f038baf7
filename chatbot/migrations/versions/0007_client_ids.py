"""Client ids on questions: a send repeated (a resubmitted form, a retried request, a socket
message sent twice) is recognised and makes no second turn.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): no copy of the table, whose partial indexes stay.
    op.add_column("messages", sa.Column("client_id", sa.String(64)))
    op.create_index("messages_client_id", "messages", ["owner_id", "client_id"], unique=True)


def downgrade() -> None:
    op.drop_index("messages_client_id", "messages")
    with op.batch_alter_table("messages") as messages:
        messages.drop_column("client_id")
