"""Console accounts: the actions behind ``swarmscope users`` and the login form, over store/access.

Every check runs before anything is written: a bad name, role, client or password stores nothing.
Login throttling counts failed attempts in the store (so it holds across restarts and workers), per user
name and, far more loosely, per client address, in a sliding window (:mod:`swarmscope.web.login_throttle`);
OWASP's Authentication Cheat Sheet recommends both counters, since one address may try many names.

Every account change is sealed in the node's chain, and an account counts only in the state its newest
sealed event gives (:mod:`swarmscope.store.access.account_events`): a login, a new token or a new password
for a user whose row is not that state (altered, or an older state written back without the node key) is
refused. Source: README "Web console".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from swarmscope.cases.identities import has_control
from swarmscope.errors import InputError
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import tokens as token_store
from swarmscope.store.access import users as user_store
from swarmscope.store.access.account_events import SealedAccounts
from swarmscope.store.database import Store
from swarmscope.web import login_throttle, user_names
from swarmscope.web.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    VerifierBusy,
    check_password,
    hash_password,
    new_password,
    new_secret,
    secret_sha256,
    verifying_slot,
)
from swarmscope.web.roles import Role


class LoginRefused(InputError):
    """A login failed (wrong name or password: one message for both) or is throttled; ``retry_after``
    (seconds, for a 429's ``Retry-After``, RFC 9110 10.2.3) when it was refused before any check."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user as routes see it; ``client`` None means every rights holder."""

    id: int
    name: str
    role: Role
    client: str | None
    client_id: int | None = None


def web_user(row: user_store.UserRow) -> WebUser:
    return WebUser(row.id, row.name, Role.parse(row.role), row.client, row.client_id)


def check_name(name: str) -> str:
    """A user name: 1..64 characters, no control, bidi or zero-width character, no surrounding space,
    in one script (:func:`.user_names.check_scripts`).

    Raises:
        InputError: otherwise.
    """
    if not name or name != name.strip() or len(name) > 64 or has_control(name):
        raise InputError(f"user name {name!r}: 1 to 64 visible characters, no surrounding space")
    user_names.check_scripts(name)
    return name


def check_password_text(password: str) -> str:
    """``password`` if the login form can ever accept it, else InputError (one line, the password never
    shown): fewer than :data:`MIN_PASSWORD` or more than :data:`MAX_PASSWORD` characters; a control
    character (Unicode Cc: C0, DEL, C1; the console refuses C0 and DEL in a form before any route, and a
    browser strips line breaks from a password field, HTML "value sanitization algorithm"); a lone
    surrogate (Cs: an undecodable byte of a file or terminal, PEP 383; no UTF-8 form can carry one)."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"password: at most {MAX_PASSWORD} characters (the login form takes no more)")
    for ch in password:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            kind = "control character" if unicodedata.category(ch) == "Cc" else "undecodable byte (not UTF-8)"
            raise InputError(f"password: a {kind} U+{ord(ch):04X}; the login form can never accept it")
    return password


def add_user(
    store: Store, name: str, role: str, client: str | None, password: str | None, now_us: int
) -> WebUser:
    """Create a user (``password`` None: token-only). Raises InputError before writing on bad input."""
    name = user_names.check_new_name(store, check_name(name))
    parsed = Role.parse(role)
    client_id = None if client is None else user_store.client_id(store, client)
    digest = None if password is None else hash_password(check_password_text(password))
    return web_user(user_store.add_user(store, name, parsed.label, client_id, digest, now_us))


@dataclass(frozen=True, slots=True)
class Adoption:
    """What the admin states a user WITHOUT any sealed state must be before its row is sealed as it
    stands: its role and rights holder (``client`` None: bound to none). A row inserted without the node
    key claims whatever its writer chose (an admin), so it is never sealed on its own word."""

    role: str
    client: str | None


def set_password(store: Store, name: str, password: str, now_us: int, adopt: Adoption | None = None) -> None:
    """Replace a user's password (its sessions end), sealed. A user without any sealed state (made before
    accounts were sealed in the ledger, or inserted without the node key) is sealed as it stands only when
    ``adopt`` states exactly the role and client its row holds.

    Raises:
        InputError: unknown user, short password, a user whose row differs from its newest sealed state,
            a user without one and no ``adopt`` or another role or client than its row's (naming what the
            row claims), or ``adopt`` for a user that has a sealed state (nothing changed).
    """
    user = user_store.get_user(store, name)
    check_password_text(password)
    sealed = SealedAccounts.of_store(store)
    if sealed.has_events("web_user", user.id):
        require_sealed(sealed, user)
        if adopt is not None and not _states(adopt, user):
            raise InputError(
                f"user {user.name!r} is sealed with {claims(user)}, not as stated; nothing changed"
            )
    else:
        require_adoption(user, adopt)
    user_store.set_password_hash(store, name, hash_password(password), now_us)


def claims(user: user_store.UserRow) -> str:
    """What a user row claims: ``role admin, no client`` / ``role viewer, client 'Studio'``."""
    if user.client_id is None:
        bound = "no client"
    else:
        bound = f"client {user.client!r}" if user.client else f"client id {user.client_id} (no such client)"
    return f"role {user.role}, {bound}"


def require_adoption(user: user_store.UserRow, adopt: Adoption | None) -> None:
    """Refuse to seal ``user`` (no sealed state) unless ``adopt`` states exactly its role and client.

    Raises:
        InputError: naming what the row claims; an unknown role in ``adopt``.
    """
    if adopt is not None and _states(adopt, user):
        return
    what = f"user {user.name!r} has no sealed state (made before accounts were sealed, or inserted without"
    if adopt is None:
        raise InputError(
            f"{what} the node key) and claims {claims(user)}: to seal it so, state both with --adopt-role "
            "ROLE and --adopt-client NAME (none: unbound); nothing changed"
        )
    stated = "no client" if adopt.client is None else f"client {adopt.client!r}"
    raise InputError(
        f"{what} the node key): it claims {claims(user)}, not the role {adopt.role} and {stated} stated; "
        "nothing changed"
    )


def _states(adopt: Adoption, user: user_store.UserRow) -> bool:
    """Whether ``adopt`` states exactly ``user``'s stored role and client (an unknown role: InputError)."""
    role = Role.parse(adopt.role).label
    if adopt.client is None:
        return role == user.role and user.client_id is None
    return role == user.role and user.client_id is not None and user.client == adopt.client


def require_sealed(sealed: SealedAccounts, user: user_store.UserRow) -> None:
    """Raises InputError when ``user`` as stored is not the state last sealed for it (one line saying
    whether it has no sealed state at all or another one)."""
    if user_store.user_holds(sealed, user):
        return
    if not sealed.has_events("web_user", user.id):
        raise InputError(
            f"user {user.name!r} has no sealed state (made before accounts were sealed in the ledger, or "
            f"inserted without the node key) and claims {claims(user)}: check it with 'users list', then "
            "'users passwd --adopt-role ROLE [--adopt-client NAME]' seals it"
        )
    raise InputError(
        f"user {user.name!r}: its row is not the state last sealed for it (altered or written back "
        "without the node key); nothing changed (users disable ends it)"
    )


def one_time_admin(store: Store, name: str, now_us: int) -> str:
    """Give the admin ``name`` (created, unbound to any client, when absent) a new generated password and
    return it, to be shown once: only its Argon2id hash is stored, and a reset ends the user's sessions.

    Raises:
        InputError: ``name`` exists but is not an active admin (it is left alone).
    """
    password = new_password()
    found = user_store.find_user(store, name)
    if found is None:
        add_user(store, name, Role.ADMIN.label, None, password, now_us)
    elif found.role != Role.ADMIN.label or found.disabled_us is not None:
        raise InputError(f"user {name!r} exists but is not an active admin; it is left unchanged")
    else:  # the caller names the user as an unbound admin: that is the state it may adopt
        set_password(store, name, password, now_us, Adoption(Role.ADMIN.label, None))
    return password


def issue_token(store: Store, name: str, now_us: int, expires_us: int | None = None) -> str:
    """A new API token for an active user, returned once (the store keeps its SHA-256); see
    :func:`new_token` for ``expires_us``."""
    return new_token(store, name, now_us, expires_us)[1]


def new_token(store: Store, name: str, now_us: int, expires_us: int | None = None) -> tuple[int, str]:
    """A new API token for an active user: (its id, to list or revoke it; the secret, shown once). It
    expires at ``expires_us`` (UTC µs; None: :data:`.tokens.DEFAULT_DAYS` days after ``now_us``), sealed
    with it (:mod:`swarmscope.store.access.tokens`).

    Raises:
        InputError: no such user, the user is disabled, or its row is not the state last sealed for it;
            ``expires_us`` not after ``now_us``.
        StoreError: no node key to seal the token with.
    """
    user = user_store.get_user(store, name)
    if user.disabled_us is not None:
        raise InputError(f"user {name!r} is disabled")
    require_sealed(SealedAccounts.of_store(store), user)
    token = new_secret()
    if expires_us is None:
        expires_us = now_us + token_store.DEFAULT_DAYS * token_store.DAY_US
    return user_store.add_token(store, user.id, secret_sha256(token), now_us, expires_us), token


def _checked_user(
    store: Store, name: str, password: str, origin: tuple[str, int, bool], sealed: SealedAccounts | None
) -> user_store.UserRow:
    """The user ``name`` whose ``password`` is right, the attempt counted first (``origin``: address,
    UTC µs, trusted device) and cleared on success (:func:`.login_throttle.begin`)."""
    address, now_us, trusted = origin
    attempt = login_throttle.begin(store, name, address, now_us, trusted)
    if isinstance(attempt, str):
        raise LoginRefused(attempt, retry_after=login_throttle.WINDOW_SECONDS)
    found = user_store.find_user(store, name)
    ok = check_password(found.password_hash if found else None, password)
    view = SealedAccounts.of_store(store) if sealed is None else sealed
    if found is None or not ok or found.disabled_us is not None or not user_store.user_holds(view, found):
        raise LoginRefused("wrong user name or password")  # the attempt stays counted as a failure
    session_store.settle_attempt(store, attempt)
    return found


def log_in(
    store: Store,
    name: str,
    password: str,
    address: str,
    now_us: int,
    seconds: int,
    sealed: SealedAccounts | None = None,
    device: str | None = None,
) -> tuple[str, str]:
    """Check a login and open a sealed session: returns (session secret for the cookie, CSRF token).
    ``sealed``: the sealed account view the console trusts (default: the store's own node key).
    ``device``: the browser's device cookie, if any (:func:`.login_throttle.device_trusted`).

    Raises:
        LoginRefused: no node key to seal a session with (nothing checked), throttled or every
            password-check slot busy (nothing checked, nothing counted; ``retry_after`` set), or a wrong
            name or password, or a user row that is not the state last sealed for it (counted, said alike).
    """
    if store.node is None or store.node.private_key is None:
        raise LoginRefused(
            "this console holds no node key to seal a session with: log in to a console started with the "
            "node key, or use an API token"
        )
    name = user_names.login_name(store, name)  # ``Counsel`` is ``counsel`` (:mod:`.user_names`)
    trusted = login_throttle.device_trusted(store.node.public_key, device, name, now_us)
    try:
        with verifying_slot():
            found = _checked_user(store, name, password, (address, now_us, trusted), sealed)
    except VerifierBusy as exc:
        raise LoginRefused(str(exc), retry_after=1) from None
    secret, csrf = new_secret(), new_secret()
    expires = now_us + seconds * 1_000_000
    session_store.open_session(store, found.id, secret_sha256(secret), csrf, address, now_us, expires)
    return secret, csrf
