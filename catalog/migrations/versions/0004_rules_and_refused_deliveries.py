"""Versions are validations: a raw batch validated under a set of rules (a changed catalog entry
validates the same delivery again as a new version), with the drift and parse problems found;
refused deliveries are recorded too.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource_versions") as batch:
        batch.add_column(sa.Column("rules", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("delivery_problems", sa.JSON, nullable=True))
        batch.drop_constraint("uq_version_fingerprint", type_="unique")
        batch.create_unique_constraint("uq_version_fingerprint_rules", ["resource_code", "fingerprint", "rules"])
    op.create_table(
        "refused_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),  # of the bytes; "" when unreadable
        sa.Column("code", sa.String(48), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("row", sa.Integer, nullable=True),
        sa.Column("column", sa.String(200), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("message_zh", sa.Text, nullable=False),
        sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("feedback_path", sa.Text, nullable=False),
        sa.Column("refused_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("resource_code", "source_file", "fingerprint", name="uq_refused_delivery"),
    )


def downgrade() -> None:
    op.drop_table("refused_deliveries")
    with op.batch_alter_table("resource_versions") as batch:
        batch.drop_constraint("uq_version_fingerprint_rules", type_="unique")
        batch.create_unique_constraint("uq_version_fingerprint", ["resource_code", "fingerprint"])
        batch.drop_column("delivery_problems")
        batch.drop_column("rules")
