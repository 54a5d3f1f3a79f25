"""fine-tune leases and stored checkpoints: the worker that runs a fine-tune holds it until
`lease_expires_at` and renews it; a checkpoint row names the blobs it was uploaded to

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
    with op.batch_alter_table("fine_tuning_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.Float(), nullable=True))
    with op.batch_alter_table("fine_tuning_checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blob_prefix", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fine_tuning_checkpoints", schema=None) as batch_op:
        batch_op.drop_column("blob_prefix")
    with op.batch_alter_table("fine_tuning_jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
