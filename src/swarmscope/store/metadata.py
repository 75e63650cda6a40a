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
