"""Approvals by department reviewers, and what is published on the portal.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("version", sa.Integer),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "publications",
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), primary_key=True),
        sa.Column("ckan_id", sa.String(64), nullable=False),
        sa.Column("ckan_name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("publications")
    op.drop_table("approvals")
