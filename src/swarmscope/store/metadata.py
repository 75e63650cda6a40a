"""The one SQLAlchemy ``MetaData`` every table module registers on (with the constraint naming convention).

Its own module so ``store/ledger/schema.py`` (the sealed evidence tables) and ``store/legal/schema.py``
(the legal workflow) can both import it without importing each other.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The largest row id any id column holds on every back end: the id and foreign-key columns are
# ``sa.Integer``, which is ``int4`` on PostgreSQL (-2^31 .. 2^31-1, PostgreSQL docs 8.1.1 "Integer Types");
# SQLite's INTEGER holds 64 bits, so the smaller range is the one both hold. A larger id names no row:
# callers answer "not found" or refuse it as input, never bind it (psycopg raises NumericValueOutOfRange).
MAX_ROW_ID = 2**31 - 1


def fits_row_id(value: int) -> bool:
    """Whether ``value`` can be a row id (1 .. :data:`MAX_ROW_ID`)."""
    return 1 <= value <= MAX_ROW_ID
