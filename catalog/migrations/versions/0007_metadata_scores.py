"""Metadata-quality scores of the portal's datasets (in the manner of data.europa.eu's MQA),
one row per measurement, so the score can be followed over time.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadata_scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("measured_at", sa.DateTime, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("max_points", sa.Integer, nullable=False),
        sa.Column("rating", sa.String(16), nullable=False),
        sa.Column("dimensions", sa.JSON, nullable=False),
        sa.Column("indicators", sa.JSON, nullable=False),
        sa.Column("source_url", sa.Text, nullable=False),
    )
    op.create_index("ix_metadata_scores_code_time", "metadata_scores", ["resource_code", "measured_at"])


def downgrade() -> None:
    op.drop_index("ix_metadata_scores_code_time", table_name="metadata_scores")
    op.drop_table("metadata_scores")
