"""Persistence: SQLAlchemy tables, Alembic migrations, blob storage, the SQL job queue."""
