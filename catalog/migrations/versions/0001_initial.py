"""Initial catalog state: resources, versions, lineage.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("table_name", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("department_slug", sa.String(64), nullable=False),
        sa.Column("open_type", sa.String(16), nullable=False),
        sa.Column("share_type", sa.String(16), nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("update_cycle", sa.String(8), nullable=False),
        sa.Column("has_personal", sa.Boolean, nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Column("synced_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "resource_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("encoding", sa.String(32)),
        sa.Column("rows_in", sa.Integer, nullable=False),
        sa.Column("rows_accepted", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("validation_passed", sa.Boolean, nullable=False),
        sa.Column("gx_success", sa.Boolean, nullable=False),
        sa.Column("problems_by_rule", sa.JSON, nullable=False),
        sa.Column("raw_path", sa.Text, nullable=False),
        sa.Column("validated_path", sa.Text, nullable=False),
        sa.Column("quarantine_path", sa.Text, nullable=False),
        sa.Column("landed_at", sa.DateTime, nullable=False),
        sa.Column("validated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("resource_code", "fingerprint", name="uq_version_fingerprint"),
        sa.UniqueConstraint("resource_code", "version", name="uq_version_number"),
    )
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("resource_code", sa.String(32), sa.ForeignKey("resources.code"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("resource_versions.id")),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("source_uri", sa.Text, nullable=False),
        sa.Column("target_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("source_uri", "target_uri", name="uq_lineage_edge"),
    )


def downgrade() -> None:
    op.drop_table("lineage_edges")
    op.drop_table("resource_versions")
    op.drop_table("resources")
