"""The database adapter (docs/architecture.md): database.py opens, migrates and recovers the store;
ledger/ holds the sealed evidence tables, legal/ the legal workflow's tables; Alembic in migrations/."""
