"""audit chain, tenant data keys, tenant governance settings, image origins

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
    op.create_table(
        "audit_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
    )
    op.create_index("ix_audit_records_chain", "audit_records", ["chain"])
    op.create_index("ix_audit_records_action", "audit_records", ["action"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_checkpoints_chain", "audit_checkpoints", ["chain"])
    op.create_table(
        "tenant_data_keys",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "tenant_governance",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("prompt_mode", sa.String(length=10), nullable=False),
        sa.Column("blocked_terms_json", sa.Text(), nullable=False),
        sa.Column("blocked_concepts_json", sa.Text(), nullable=False),
        sa.Column("semantic_threshold", sa.Float(), nullable=False),
        sa.Column("low_semantic_threshold", sa.Float(), nullable=False),
        sa.Column("image_retention_days", sa.Float(), nullable=True),
        sa.Column("job_retention_days", sa.Float(), nullable=True),
        sa.Column("model_approval_required", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "image_origins",
        sa.Column("watermark_id", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created", sa.String(length=40), nullable=False),
        sa.Column("pixel_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("watermark_id"),
    )
    op.create_index("ix_image_origins_tenant_id", "image_origins", ["tenant_id"])
    op.create_index("ix_image_origins_job_id", "image_origins", ["job_id"])
    op.create_table(
        "model_approvals",
        sa.Column("model_id", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("model_id"),
    )
    op.create_index("ix_model_approvals_tenant_id", "model_approvals", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_model_approvals_tenant_id", table_name="model_approvals")
    op.drop_table("model_approvals")
    op.drop_index("ix_image_origins_job_id", table_name="image_origins")
    op.drop_index("ix_image_origins_tenant_id", table_name="image_origins")
    op.drop_table("image_origins")
    op.drop_table("tenant_governance")
    op.drop_table("tenant_data_keys")
    op.drop_index("ix_audit_checkpoints_chain", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_records_action", table_name="audit_records")
    op.drop_index("ix_audit_records_chain", table_name="audit_records")
    op.drop_table("audit_records")
