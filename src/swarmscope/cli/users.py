"""``swarmscope users add | passwd | token | tokens | disable | list``: the web console's accounts.

Roles: viewer < analyst < counsel < admin (:mod:`swarmscope.web.roles`). ``--client`` binds a user to one
rights holder (it then sees only that client's works, swarms, cases and letters). Passwords are read from
``--password-file`` (its first line) or prompted for twice, never taken on the command line (it would land
in the shell history and the process list); they are stored as Argon2id hashes. ``users token`` prints a
new API token once; only its SHA-256 is stored; it expires after ``--expires-days`` (1 to 365, default 90),
sealed with it. ``users tokens [NAME]`` lists tokens by id with their creation, last use (to the minute),
state (active, expired, revoked) and expiry; ``users token NAME --revoke ID`` revokes one at once
(the user's other tokens and sessions go on; ``users disable`` revokes them all).

Exit status: 0 on success, 1 for bad input (unknown role, unknown client or user, a password too short or
one the login form can never send: over 1024 characters, a control character...), with
one line and nothing stored. ``add``, ``passwd``, ``token`` and ``disable`` seal each account change as an
event in the node's chain (``--node-key``, default beside the database; it must exist), and an account
counts only in the state its newest sealed event gives (:mod:`swarmscope.store.access.account_events`):
``passwd`` and ``token`` refuse a user whose row is not that state (altered, or an older state written back
without the key) in one line, exit status 1, nothing sealed; ``disable`` and ``--revoke`` always act (they
only take rights away). ``passwd`` seals a user that has no sealed state at all (made before accounts were
sealed in the ledger, or inserted without the key) as it stands only with ``--adopt-role`` (and
``--adopt-client`` for a user bound to a rights holder) stating exactly the role and client its row holds;
otherwise it names what the row claims and changes nothing. Every ``users`` command needs an existing
database (made by ``monitor`` or ``demo``), as ``serve`` does: a mistyped ``--db`` is one line naming the
path, not a new empty database and node key the console never reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import DbOption, command_store, fail, now_us
from swarmscope.cli.text import clean, iso
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.account_events import SealedAccounts
from swarmscope.store.access.tokens import DAY_US, DEFAULT_DAYS
from swarmscope.store.database import DEFAULT_DB, Store, StoreError, database_url, sqlite_file
from swarmscope.web import accounts
from swarmscope.web.roles import Role

users_app = typer.Typer(help="Users of the web console (swarmscope serve).", no_args_is_help=True)
app.add_typer(users_app, name="users")

PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="Read the password from this file's first line (default: prompt)."),
]


def _require_database(db: str) -> None:
    """Raise StoreError ("database not found: PATH") when ``db`` names an SQLite file that does not
    exist (a server URL is left to the connection), before a node key is looked for or created."""
    path = sqlite_file(database_url(db))
    if path is not None and not Path(path).is_file():
        raise StoreError(f"database not found: {path}")


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
    try:  # utf-8-sig: a byte order mark (Windows editors write one) is not part of the password
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--password-file {path}: cannot read it ({type(exc).__name__})") from None
    # the first line ends at LF (CR LF too); other line separators (U+2028, U+0085...) stay in the
    # password, where check_password_text refuses them, rather than silently cutting it short
    return accounts.check_password_text(text.split("\n", 1)[0].removesuffix("\r"))


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (1-64 visible characters).")],
    role: Annotated[str, typer.Option("--role", help="viewer | analyst | counsel | admin")],
    client: Annotated[
        str | None, typer.Option("--client", help="Bind the user to this rights holder (must exist).")
    ] = None,
    password_file: PasswordFile = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Add a console user (a password is prompted for without --password-file); the account is sealed
    with the node key (--node-key, default beside the database)."""
    try:  # everything the store need not answer is checked first: bad input creates nothing
        accounts.check_name(name)
        Role.parse(role)
        password = _password(password_file)
    except InputError as exc:
        raise fail(exc) from None
    try:
        now = now_us()
        _require_database(db)
        with signing_store(db, node_key, now) as store:
            user = accounts.add_user(store, name, role, client, password, now)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    scope = f", client {clean(user.client)}" if user.client else ""
    typer.echo(f"user {clean(user.name)}: {user.role.label}{scope}")


@users_app.command("passwd")
def passwd(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_file: PasswordFile = None,
    adopt_role: Annotated[
        str | None,
        typer.Option("--adopt-role", help="A user with no sealed state: the role its row must hold."),
    ] = None,
    adopt_client: Annotated[
        str | None,
        typer.Option("--adopt-client", help="With --adopt-role: the client its row must be bound to."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Set a user's password; its open sessions end. A user with no sealed state is sealed only with
    --adopt-role (and --adopt-client when bound) stating exactly what its row holds."""
    try:
        if adopt_client is not None and adopt_role is None:
            raise InputError("--adopt-client needs --adopt-role")
        adopt = None if adopt_role is None else accounts.Adoption(adopt_role, adopt_client)
        password = _password(password_file)
        now = now_us()
        _require_database(db)
        with signing_store(db, node_key, now) as store:
            accounts.set_password(store, name, password, now, adopt)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    typer.echo(f"user {clean(name)}: password changed, sessions ended")


@users_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="User name.")],
    revoke: Annotated[
        int | None, number_option("--revoke", num.ROW_ID, "Revoke this token of the user instead (its id).")
    ] = None,
    expires_days: Annotated[
        int | None,
        number_option("--expires-days", num.TOKEN_DAYS, f"Days until it expires (default {DEFAULT_DAYS})."),
    ] = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Print a new API token for scripts (shown once; send it as 'Authorization: Bearer TOKEN').

    Only the token goes to standard output (TOKEN=$(swarmscope users token bot) keeps it); its id and
    expiry go to standard error. It expires after --expires-days (sealed with it: only a new token
    extends it). With --revoke ID that token stops working at once; the user's others go on.
    """
    try:
        if revoke is not None and expires_days is not None:
            raise InputError("--expires-days is for a new token, not with --revoke")
        now = now_us()
        expires = now + (DEFAULT_DAYS if expires_days is None else expires_days) * DAY_US
        _require_database(db)
        with signing_store(db, node_key, now) as store:
            if revoke is not None:
                row = token_store.revoke_token(store, name, revoke, now)
            else:
                token_id, secret = accounts.new_token(store, name, now, expires)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    if revoke is not None:
        typer.echo(f"token {row.id} of {clean(row.user)}: revoked {iso(row.revoked_us)}")
        return
    typer.echo(secret)
    revoke_hint = f"revoke: users token NAME --revoke {token_id}"
    typer.echo(f"token {token_id} of {clean(name)}, expires {iso(expires)} ({revoke_hint})", err=True)


@users_app.command("tokens")
def tokens(
    name: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """List API tokens: id, user, created, last used (to the minute), active, expired or revoked, and when it
    expires (never the token); a token whose row is not the state last sealed for it (checked with the
    node key file beside the database) says so."""
    now = now_us()
    with command_store(db) as store:
        if name is not None:
            user_store.get_user(store, name)
        rows = token_store.list_tokens(store, name)
        sealed = _sealed_accounts(store, db) if rows else None
    for row in rows:
        ends, expires = _expiry(row, sealed)
        state = "active" if ends > now else "expired"
        state = state if row.revoked_us is None else f"revoked {iso(row.revoked_us)}"
        if sealed is not None and not token_store.holds(sealed, row):
            state += " (refused: not the state last sealed for it)"
        used = "never used" if row.last_used_us is None else f"last used {iso(row.last_used_us)}"
        typer.echo(f"{row.id}\t{clean(row.user)}\tcreated {iso(row.created_us)}\t{used}\t{state}\t{expires}")
    if not rows:
        typer.echo("no API tokens")


def _expiry(row: token_store.TokenRow, sealed: SealedAccounts | None) -> tuple[int, str]:
    """(UTC µs, listing text) of when ``row`` expires; a token issued before expiry existed counts from its
    newest sealed event (from its creation when nothing proves one: the console refuses it anyway)."""
    at = None if sealed is None else sealed.sealed_at("web_token", row.id)
    ends = token_store.expiry_us(row.expires_us, row.created_us if at is None else at)
    note = "" if row.expires_us is not None else " (issued before tokens expired)"
    return ends, f"expires {iso(ends)}{note}"


@users_app.command("disable")
def disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Disable a user: it cannot log in, and its sessions and tokens stop working at once."""
    try:
        now = now_us()
        _require_database(db)
        with signing_store(db, node_key, now) as store:
            user_store.disable_user(store, name, now)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    typer.echo(f"user {clean(name)}: disabled")


@users_app.command("list")
def list_users(db: DbOption = DEFAULT_DB) -> None:
    """List the users: name, role, client, disabled; a user whose row is not the state last sealed for it
    (checked with the node key file beside the database) says so."""
    with command_store(db) as store:
        sealed = _sealed_accounts(store, db)
        for user in user_store.list_users(store):
            state = ("disabled" if user.disabled_us is not None else "active") + _note(sealed, user)
            typer.echo(f"{clean(user.name)}\t{user.role}\t{clean(user.client or '-')}\t{state}")


def _sealed_accounts(store: Store, db: str) -> SealedAccounts | None:
    """The sealed account view under the node key file beside ``db``; None without one (nothing checked)."""
    try:
        trusted = workflow_trust(db, None, None, now_us()).fingerprints
    except InputError:
        return None
    return SealedAccounts(trusted).refresh(store)


def _note(sealed: SealedAccounts | None, user: user_store.UserRow) -> str:
    if sealed is None or user_store.user_holds(sealed, user):
        return ""
    if not sealed.has_events("web_user", user.id):
        return " (no sealed state: refused until 'users passwd --adopt-role ROLE' states it and seals it)"
    return " (refused: not the state last sealed for it)"
