"""Alembic environment: runs migrations on the connection `Store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from schemas.tables import metadata

config = context.config


def run_migrations() -> None:
    """Migrate on the given connection, or on `sqlalchemy.url` when run from the alembic CLI."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(
            connection=conn, target_metadata=metadata, render_as_batch=conn.dialect.name == "sqlite"
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
