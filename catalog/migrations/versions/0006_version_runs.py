"""Every version names the Airflow run (and the asset event that started it) that produced it;
refused deliveries too. NULL for versions made outside Airflow (the CLI).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource_versions") as batch:
        batch.add_column(sa.Column("produced_by", sa.JSON, nullable=True))
    with op.batch_alter_table("refused_deliveries") as batch:
        batch.add_column(sa.Column("produced_by", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refused_deliveries") as batch:
        batch.drop_column("produced_by")
    with op.batch_alter_table("resource_versions") as batch:
        batch.drop_column("produced_by")
