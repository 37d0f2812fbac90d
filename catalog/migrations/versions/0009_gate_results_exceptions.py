"""The leak gate's outcomes and reviewed exceptions; approvals remember the terms they approved.

gate_results keeps the newest publish attempt per resource, so a block is shown where the
department looks (catalog show, the resource page, kcdata deliveries), not only in a task log.
gate_exceptions holds a reviewer's time-limited exception to one rule on one column.
approvals.terms is what an approval covered (open type, each item's type, sensitivity and
treatment); existing approvals have none and keep covering their resource as before.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("terms", sa.JSON, nullable=True))
    op.create_table(
        "gate_results",
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), primary_key=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("waived", sa.JSON, nullable=False),
        sa.Column("checked_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "gate_exceptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("column", sa.String(200), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_gate_exceptions_resource", "gate_exceptions", ["resource_code"])


def downgrade() -> None:
    op.drop_index("ix_gate_exceptions_resource", "gate_exceptions")
    op.drop_table("gate_exceptions")
    op.drop_table("gate_results")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("terms")
