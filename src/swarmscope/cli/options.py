"""The options and helpers every store-backed command shares: ``--db``, ``--actor``, the clock, errors.

One definition each, so ``--db`` means the same in every command, a blank ``--actor`` is refused
everywhere (the audit trail and the case events always name a person), times and infohashes are read one
way (:func:`parse_time`, :func:`parse_infohash`), and every error line is cleaned of control characters
before it reaches the operator's terminal. Numeric options are declared in :mod:`swarmscope.cli.numeric`;
the character rule of names and addresses is :func:`swarmscope.cases.directory.check_text`.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from swarmscope.cli.numeric import UTC_US
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, open_store

DbOption = Annotated[str, typer.Option("--db", help="Evidence database: SQLite path or SQLAlchemy URL.")]
ActorOption = Annotated[
    str | None, typer.Option("--actor", help="Who decides or records this (default: the OS user name).")
]


def now_us() -> int:
    """The system clock, UTC microseconds (workflow times; evidence times come from the monitor's clock)."""
    return Clock().now_us()


def actor_name(actor: str | None) -> str:
    """``--actor`` (stripped) or the OS user name; never blank.

    Raises:
        InputError: the name is blank.
    """
    name = (actor if actor is not None else getpass.getuser()).strip()
    if not name:
        raise InputError("--actor: must name who decides or records this")
    return name


def parse_time(text: str, option: str) -> int:
    """``--since``/``--until``: ISO 8601 (UTC unless an offset is given) or integer UTC microseconds.

    Raises:
        InputError: neither form, or microseconds outside :data:`swarmscope.cli.numeric.UTC_US` (the
            message names the option).
    """
    if text.lstrip("-").isdigit():
        return int(UTC_US.parse(option, text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option}: {text!r} is neither ISO 8601 nor UTC microseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_infohash(text: str) -> str:
    """``--infohash``: 40 (v1) or 64 (v2) hex digits, lower-cased.

    Raises:
        InputError: anything else.
    """
    if len(text) not in (40, 64) or any(c not in "0123456789abcdef" for c in text.lower()):
        raise InputError(f"--infohash: {text!r} is not 40 or 64 hex digits")
    return text.lower()


def fail(exc: SwarmscopeError | OSError) -> typer.Exit:
    """Print ``error: ...`` (cleaned) to stderr and return the exit (status 1) to raise."""
    typer.echo(f"error: {clean(exc)}", err=True)
    return typer.Exit(1)


@contextmanager
def command_store(db: str, *, create: bool = False) -> Iterator[Store]:
    """Open the store for one command; every SwarmscopeError becomes ``error: ...`` and exit status 1."""
    try:
        with open_store(db, create=create) as store:
            yield store
    except SwarmscopeError as exc:
        raise fail(exc) from None


@contextmanager
def workflow_store(db: str) -> Iterator[Store]:
    """The existing store, opened for workflow writes; errors are left to the caller (see :func:`fail`)."""
    store = open_store(db, create=False)
    try:
        yield store
    finally:
        store.close()
