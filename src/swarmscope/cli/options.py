"""The options and helpers every store-backed command shares: ``--db``, ``--actor``, the clock, errors.

One definition each, so ``--db`` means the same in every command, a blank ``--actor`` is refused
everywhere (the audit trail and the case events always name a person), names and addresses follow one
character rule (:func:`check_text`), and every error line is cleaned of control characters before it
reaches the operator's terminal. Numeric options are declared in :mod:`swarmscope.cli.numeric`.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from swarmscope.cases.identities import has_control
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


def check_text(option: str, text: str | None, *, line_breaks: bool = False) -> None:
    """Refuse a name or address given on the command line that holds a control character.

    The rule of disclosure names (:func:`swarmscope.cases.identities.has_control`: control and format
    characters such as a U+202E bidi override or a zero-width space, line separators; ``line_breaks``
    allows LF in addresses) applies to every work title, client, ISP name and legal address, because they
    are printed on exhibits, notices and letters. The value is not echoed (it may not display truly).

    Raises:
        InputError: naming ``option``.
    """
    if text is not None and has_control(text, line_breaks=line_breaks):
        allowed = " (only line breaks are allowed)" if line_breaks else ""
        raise InputError(
            f"{option}: contains a control, bidi or zero-width character or a line separator{allowed}"
        )


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
