"""Notices sent: one row per e-mail about a refused delivery or a held-back version, claimed before
it goes out, so a retried task (its worker died after sending) never sends it twice.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices_sent",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("resource_code", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notices_sent")
