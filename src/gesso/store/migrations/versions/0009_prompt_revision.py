"""prompt revision: whether a tenant's prompts go through the prompt-understanding step when a
request does not say (`tenant_governance.prompt_revision`, on by default)

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
    with op.batch_alter_table("tenant_governance") as batch:
        batch.add_column(sa.Column("prompt_revision", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("tenant_governance") as batch:
        batch.drop_column("prompt_revision")
