"""Freshness: per resource, whether it was delivered within its update cycle, since when it is
overdue and when the overdue alert went out (one alert per overdue period; a new delivery
clears both).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_freshness",
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),  # on_time | overdue | never
        sa.Column("last_delivered_at", sa.DateTime, nullable=True),  # newest version's landing time (UTC)
        sa.Column("due_at", sa.DateTime, nullable=True),  # NULL: the cycle has no deadline (不定时)
        sa.Column("overdue_since", sa.DateTime, nullable=True),  # the deadline missed; NULL unless overdue
        sa.Column("alerted_at", sa.DateTime, nullable=True),  # when this overdue period's alert was sent
        sa.Column("checked_at", sa.DateTime, nullable=False),  # the clock of the check that wrote the row
    )


def downgrade() -> None:
    op.drop_table("resource_freshness")
