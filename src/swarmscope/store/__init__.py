"""The database adapter: SQLAlchemy Core schema, Alembic migrations, append-only evidence tables."""
