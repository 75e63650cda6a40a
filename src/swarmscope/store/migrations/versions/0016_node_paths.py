"""A work's reference copy known by its content, not by one machine's path.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Adds ``reference_sha256`` (hex SHA-256 of the reference copy, NULL: none, or not readable when this
revision ran) to ``work``: the identity a fleet node checks its own copy against (``swarmscope node
--reference WORK=PATH``); ``reference_path`` stays the registering machine's path. Existing works are
filled from the copy at their ``reference_path`` where it is readable here, hashed as ``works add``
hashes it (a file's bytes; a folder's files in sorted relative-path order, each as its UTF-8 path, NUL,
its size in decimal, NUL, its bytes). A frozen snapshot (no import of ``legal/schema.py`` nor of
``legal/workflow_seals.py``, whose ``reference_sha256`` this copies).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        if os.path.isdir(path):
            names = sorted(
                os.path.relpath(os.path.join(top, n), path) for top, _d, files in os.walk(path) for n in files
            )
            for name in names:
                full = os.path.join(path, name)
                digest.update(f"{name}\0{os.path.getsize(full)}\0".encode())
                _feed(digest, full)
        else:
            _feed(digest, path)
    except OSError:
        return None
    return digest.hexdigest()


def _feed(digest: Any, path: str) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def upgrade() -> None:
    op.add_column("work", sa.Column("reference_sha256", sa.Text(), nullable=True))
    work = sa.table("work", sa.column("id"), sa.column("reference_path"), sa.column("reference_sha256"))
    conn = op.get_bind()
    rows = conn.execute(sa.select(work.c.id, work.c.reference_path).where(work.c.reference_path.is_not(None)))
    for work_id, path in list(rows):
        conn.execute(sa.update(work).where(work.c.id == work_id).values(reference_sha256=_sha256(path)))


def downgrade() -> None:
    with op.batch_alter_table("work") as batch:
        batch.drop_column("reference_sha256")
