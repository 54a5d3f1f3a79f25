"""job previews: streamed previews of running jobs, so any replica streams a job another runs

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
    op.create_table(
        "job_previews",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("image_index", sa.Integer(), nullable=False),
        sa.Column("partial_index", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("job_id", "image_index", "partial_index"),
    )
    with op.batch_alter_table("job_previews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_previews_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_previews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_previews_tenant_id"))
    op.drop_table("job_previews")
