"""``swarmscope users add | passwd | token | disable | list``: the web console's accounts.

Roles: viewer < analyst < counsel < admin (:mod:`swarmscope.web.roles`). ``--client`` binds a user to one
rights holder (it then sees only that client's works, swarms, cases and letters). Passwords are read from
``--password-file`` (its first line) or prompted for twice, never taken on the command line (it would land
in the shell history and the process list); they are stored as Argon2id hashes. ``users token`` prints a
new API token once; only its SHA-256 is stored.

Exit status: 0 on success, 1 for bad input (unknown role, unknown client or user, short password...), with
one line and nothing stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cli.app import app
from swarmscope.cli.options import DbOption, command_store, fail, now_us
from swarmscope.cli.text import clean
from swarmscope.errors import InputError
from swarmscope.store.access import users as user_store
from swarmscope.store.database import DEFAULT_DB
from swarmscope.web import accounts
from swarmscope.web.roles import Role

users_app = typer.Typer(help="Users of the web console (swarmscope serve).", no_args_is_help=True)
app.add_typer(users_app, name="users")

PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="Read the password from this file's first line (default: prompt)."),
]


def _password(path: Path | None) -> str:
    """The password from ``path`` (first line) or two prompts; checked for length.

    Raises:
        InputError: unreadable file, prompts that differ, too short.
    """
    if path is None:
        first = typer.prompt("Password", hide_input=True)
        if typer.prompt("Repeat the password", hide_input=True) != first:
            raise InputError("the two passwords differ")
        return accounts.check_password_text(first)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--password-file {path}: cannot read it ({type(exc).__name__})") from None
    return accounts.check_password_text(text.splitlines()[0] if text else "")


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (1-64 visible characters).")],
    role: Annotated[str, typer.Option("--role", help="viewer | analyst | counsel | admin")],
    client: Annotated[
        str | None, typer.Option("--client", help="Bind the user to this rights holder (must exist).")
    ] = None,
    password_file: PasswordFile = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Add a console user (a password is prompted for without --password-file)."""
    try:  # everything the store need not answer is checked first: bad input creates nothing
        accounts.check_name(name)
        Role.parse(role)
        password = _password(password_file)
    except InputError as exc:
        raise fail(exc) from None
    with command_store(db, create=client is None) as store:
        user = accounts.add_user(store, name, role, client, password, now_us())
    scope = f", client {clean(user.client)}" if user.client else ""
    typer.echo(f"user {clean(user.name)}: {user.role.label}{scope}")


@users_app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_file: PasswordFile = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Set a user's password; its open sessions end."""
    try:
        password = _password(password_file)
    except InputError as exc:
        raise fail(exc) from None
    with command_store(db) as store:
        accounts.set_password(store, name, password, now_us())
    typer.echo(f"user {clean(name)}: password changed, sessions ended")


@users_app.command("token")
def token(name: Annotated[str, typer.Argument(help="User name.")], db: DbOption = DEFAULT_DB) -> None:
    """Print a new API token for scripts (shown once; send it as 'Authorization: Bearer TOKEN')."""
    with command_store(db) as store:
        secret = accounts.issue_token(store, name, now_us())
    typer.echo(secret)


@users_app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="User name.")], db: DbOption = DEFAULT_DB) -> None:
    """Disable a user: it cannot log in, and its sessions and tokens stop working at once."""
    with command_store(db) as store:
        user_store.disable_user(store, name, now_us())
    typer.echo(f"user {clean(name)}: disabled")


@users_app.command("list")
def list_users(db: DbOption = DEFAULT_DB) -> None:
    """List the users: name, role, client, disabled."""
    with command_store(db) as store:
        for user in user_store.list_users(store):
            state = "disabled" if user.disabled_us is not None else "active"
            typer.echo(f"{clean(user.name)}\t{user.role}\t{clean(user.client or '-')}\t{state}")
