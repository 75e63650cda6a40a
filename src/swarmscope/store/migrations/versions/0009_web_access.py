"""The web console's access control: users, API tokens, sessions, login attempts.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06

Adds ``web_user`` (name, role, optional rights holder, Argon2 password hash, disabled time),
``web_token`` and ``web_session`` (SHA-256 of random bearer secrets, revocable, sessions expiring) and
``web_login_attempt`` (login throttling). No secret is stored in the clear. A frozen snapshot (no import
of ``access/schema.py``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def _users() -> None:
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.Column("disabled_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"], name=op.f("fk_web_user_client_id_client")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_user")),
        sa.UniqueConstraint("name", name=op.f("uq_web_user_name")),
    )


def _secrets(table: str, columns: list[sa.Column[Any]]) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["user_id"], ["web_user.id"], name=op.f(f"fk_{table}_user_id_web_user")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("token_sha256", name=op.f(f"uq_{table}_token_sha256")),
    )
    op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"], unique=False)


def _attempts() -> None:
    op.create_table(
        "web_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_login_attempt")),
    )
    for column in ("at_us", "name", "address"):
        op.create_index(op.f(f"ix_web_login_attempt_{column}"), "web_login_attempt", [column], unique=False)


def upgrade() -> None:
    _users()
    _secrets(
        "web_token",
        [
            sa.Column("created_us", sa.BigInteger(), nullable=False),
            sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        ],
    )
    _secrets(
        "web_session",
        [
            sa.Column("csrf", sa.Text(), nullable=False),
            sa.Column("address", sa.Text(), nullable=True),
            sa.Column("created_us", sa.BigInteger(), nullable=False),
            sa.Column("expires_us", sa.BigInteger(), nullable=False),
            sa.Column("revoked_us", sa.BigInteger(), nullable=True),
        ],
    )
    _attempts()


def downgrade() -> None:
    for table in ("web_login_attempt", "web_session", "web_token", "web_user"):
        op.drop_table(table)
