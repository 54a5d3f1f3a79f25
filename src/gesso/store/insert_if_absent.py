"""Get-or-create without a race: `INSERT ... ON CONFLICT DO NOTHING`, then read what is there.

Two writers that both found no row both insert; with ON CONFLICT DO NOTHING the second insert
does nothing instead of failing the second writer's whole transaction (it was a 500 before),
and both then read the one row that won.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.exc import IntegrityError


def insert_if_absent(connection: Connection, table: Any, values: dict[str, Any], key_columns: list[str]) -> bool:
    """Insert `values` into `table` (an ORM class or Table) unless a row with the same
    `key_columns` exists; True if this call inserted it. Runs in the connection's transaction."""
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        statement = dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=key_columns)
        return connection.execute(statement).rowcount == 1
    try:  # any other database: a savepoint keeps a conflict from spoiling the caller's transaction
        with connection.begin_nested():
            connection.execute(insert(table).values(**values))
        return True
    except IntegrityError:
        return False
