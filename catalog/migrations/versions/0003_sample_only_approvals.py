"""Approvals get a scope: sample_only marks the demo reviewer's approvals of generated sample data.

Such an approval covers only the version it was recorded on; the gate refuses later versions
until a person approves. Existing approvals are people's decisions: they stay unscoped (false).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("sample_only", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("sample_only")
