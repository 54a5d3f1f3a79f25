"""files, fine-tuning jobs, fine-tuned models

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("uncaptioned_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("preview_blob_key", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_files_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "fine_tuning_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("api_key_id", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("training_file", sa.String(length=40), nullable=False),
        sa.Column("validation_file", sa.String(length=40), nullable=True),
        sa.Column("suffix", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("hyperparameters_json", sa.Text(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_action", sa.String(length=10), nullable=True),
        sa.Column("fine_tuned_model", sa.String(length=300), nullable=True),
        sa.Column("model_name", sa.String(length=300), nullable=False),
        sa.Column("work_dir", sa.String(length=500), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_param", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fine_tuning_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_fine_tuning_jobs_status_created", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fine_tuning_jobs_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "fine_tuning_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["fine_tuning_jobs.id"]),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("fine_tuning_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fine_tuning_events_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fine_tuning_events_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "fine_tuning_checkpoints",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("valid_loss", sa.Float(), nullable=True),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("samples_blob_key", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["fine_tuning_jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "step", name="uq_fine_tuning_checkpoints_job_step"),
    )
    with op.batch_alter_table("fine_tuning_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fine_tuning_checkpoints_job_id"), ["job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fine_tuning_checkpoints_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "fine_tuned_models",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("base_model", sa.String(length=200), nullable=False),
        sa.Column("training_file", sa.String(length=40), nullable=False),
        sa.Column("validation_file", sa.String(length=40), nullable=True),
        sa.Column("dataset_sha256", sa.String(length=64), nullable=False),
        sa.Column("hyperparameters_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("adapter_blob_prefix", sa.String(length=300), nullable=False),
        sa.Column("adapter_dir", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    with op.batch_alter_table("fine_tuned_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fine_tuned_models_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fine_tuned_models_training_file"), ["training_file"], unique=False)
        batch_op.create_index(batch_op.f("ix_fine_tuned_models_validation_file"), ["validation_file"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("fine_tuned_models", ["ix_fine_tuned_models_validation_file", "ix_fine_tuned_models_training_file",
                               "ix_fine_tuned_models_tenant_id"]),
        ("fine_tuning_checkpoints", ["ix_fine_tuning_checkpoints_tenant_id", "ix_fine_tuning_checkpoints_job_id"]),
        ("fine_tuning_events", ["ix_fine_tuning_events_tenant_id", "ix_fine_tuning_events_job_id"]),
        ("fine_tuning_jobs", ["ix_fine_tuning_jobs_tenant_id", "ix_fine_tuning_jobs_status_created"]),
        ("files", ["ix_files_tenant_id"]),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
