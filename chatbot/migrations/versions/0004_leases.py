"""Leases: the processes that may be writing replies, and until when.

A reply left streaming by a process whose lease ran out is marked interrupted by whichever
process sweeps next, on any machine: the process id alone tells nothing across hosts.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("worker", sa.String(255), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
