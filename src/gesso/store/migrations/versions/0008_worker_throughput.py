"""worker throughput: each image worker's measured seconds per image, so that every replica's
admission (and `/metrics`) reads the expected wait, not only the process that runs the worker

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_throughput",
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("seconds_per_image", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("worker_throughput")
