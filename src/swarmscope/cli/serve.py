"""``swarmscope serve``: the web console (FastAPI + Jinja2 + htmx under uvicorn) over a store.

The console reads the store the monitor writes (SQLite by default, any SQLAlchemy URL such as
``postgresql+psycopg://...``); it never talks to peers. It listens on loopback unless ``--allow-remote``
(see :mod:`swarmscope.web.server`). ``--identity-key`` lets counsel and admin see subscriber identities
(each view audited); without it the pages say identities are not available. ``--session-idle`` is how
long a login may go unused before it ends (minutes, finite, more than 0 and at most the session's
absolute lifetime of 8 hours; default 30).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import TrustKeyOption, workflow_trust
from swarmscope.cli.node_identity import refuse_untrusted_kept, signing_key, witness_keys
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import DbOption, fail, now_us
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.console.fold import catch_up
from swarmscope.store.database import DEFAULT_DB, open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.web.security import host_name
from swarmscope.web.server import check_host, serve
from swarmscope.web.settings import SESSION_IDLE_SECONDS, SESSION_SECONDS, WebSettings

# at least twice the resolution a session's last use is recorded at (a minute: store.access.sessions), so a
# session in use is never taken for idle
SESSION_IDLE_MINUTES = num.Bounds(2, SESSION_SECONDS / 60, "minutes")
FOLD_ENTRIES = 5_000  # ledger entries per fold transaction of --fold-only (about 0.2 s on SQLite)


ServeNodeKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--node-key",
        help="The node's PRIVATE key file (default: beside the database): it proves the evidence and seals "
        "the decisions taken in the browser. A public key PEM is refused; to serve without the private "
        "key, give none and trust the node with --trust-key: cases, documents and letter previews are "
        "shown, approvals, payments and disputes are refused.",
    ),
]


SessionIdleOption = Annotated[
    float,
    number_option(
        "--session-idle",
        SESSION_IDLE_MINUTES,
        "Minutes a login may go unused before it ends (a live page's own refreshes are not use)",
    ),
]
FoldOnlyOption = Annotated[
    bool,
    typer.Option("--fold-only", help="Fold the sealed batches into the console's read models, then exit."),
]


@app.command("serve")
def serve_command(
    db: DbOption = DEFAULT_DB,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, number_option("--port", num.PORT, "TCP port to listen on")] = 8080,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a non-loopback --host (only behind a TLS proxy)."),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A name requests may carry in Host besides 127.0.0.1, localhost, ::1 and --host "
            "(a reverse proxy's public name; repeatable). Any other Host is refused (DNS rebinding).",
        ),
    ] = None,
    identity_key: Annotated[
        Path | None,
        typer.Option("--identity-key", help="Identity key file: counsel and admin then see identities."),
    ] = None,
    node_key: ServeNodeKeyOption = None,
    trust_key: TrustKeyOption = None,
    session_idle: SessionIdleOption = SESSION_IDLE_SECONDS / 60,
    fold_only: FoldOnlyOption = False,
) -> None:
    """Serve the web console until Ctrl-C.

    While it serves, a background thread folds newly sealed batches into the console's read models (the
    pages show how many are not folded yet); --fold-only does that fold once, to the end, without serving.

    Letter preview and approval prove each case like `letters approve` does, against the node keys given
    by --node-key/--trust-key (default: the key file beside the database); without any, they are refused.
    The database must hold the chain head witnessed beside the node key file, at start and before each
    accusing action; the console's seals move that witness on.
    """
    try:
        if fold_only:
            _fold(db)
            return
        check_host(host, allow_remote)
        trusted = _trusted(db, node_key, trust_key)
        if trusted and node_key is None and not trust_key:  # trust taken from the key beside the database
            with open_store(db, create=False) as store:
                refuse_untrusted_kept(store, default_key_path(db), set(trusted))
        key = _sealing_key(db, node_key)
        witness = witness_path(node_key if node_key is not None else default_key_path(db))
        settings = WebSettings(
            db,
            host,
            port,
            allow_remote,
            identity_key,
            trusted_keys=trusted,
            node_key=key,
            witness=witness,
            other_witnesses=tuple(witness_path(k) for k in witness_keys()),
            allowed_hosts=_allowed_hosts(allowed_host or []),
            session_idle_seconds=session_idle * 60,
        )
        serve(settings, lambda url: _announce(url, trusted, key is not None))
    except SwarmscopeError as exc:
        raise fail(exc) from None


def _allowed_hosts(names: list[str]) -> frozenset[str]:
    """The ``--allowed-host`` names, lower case (an IPv6 address without brackets).

    Raises:
        InputError: a name with a port, path, space or nothing in it.
    """
    found = set()
    for name in names:
        bare = name.strip().lower().strip("[]")
        if not bare or host_name(f"[{bare}]" if ":" in bare else bare) != bare:
            raise InputError(f"--allowed-host {name!r}: give a host name or address, without port or path")
        found.add(bare)
    return frozenset(found)


def _fold(db: str) -> None:
    """Fold every sealed batch not folded yet, in transactions of at most :data:`FOLD_ENTRIES` ledger
    entries (a monitor writing the same SQLite file waits for the lock a fraction of a second at most)."""
    store = open_store(db, create=False)
    try:
        folded = catch_up(store, max_entries=FOLD_ENTRIES)
    finally:
        store.close()
    typer.echo(f"folded {folded} sealed batches into the console's read models")


def _trusted(db: str, node_key: Path | None, trust_key: list[str] | None) -> frozenset[str]:
    """The trusted fingerprints; with neither option and no key file beside the database, none (the
    gated actions are then refused). A key given but unusable is an error (InputError)."""
    try:
        return workflow_trust(db, node_key, trust_key, now_us()).fingerprints
    except InputError:
        if node_key is not None or trust_key:
            raise
        return frozenset()


def _sealing_key(db: str, node_key: Path | None) -> Ed25519PrivateKey | None:
    """The node's private key that seals the decisions taken in the browser (approvals, payments,
    disputes), found as ``letters approve`` finds it (:func:`signing_key`); None when neither
    ``--node-key`` nor a key file beside the database exists (those actions are then refused with the
    reason). A key given but unusable is an error (InputError)."""
    try:
        return signing_key(db, node_key)[0]
    except InputError:
        if node_key is not None or default_key_path(db).exists():
            raise
        return None


def _announce(url: str, trusted: frozenset[str], sealing: bool) -> None:
    """Print what the console refuses for want of a key, and why, then where it listens (once the store
    is open and the port is ours). Without a trusted key no account is proven (each counts only in the
    state its events sealed by a trusted node give), so neither logins nor API tokens work; without the
    private key no session can be sealed, so logins fail while tokens of proven users work."""
    if not trusted:
        typer.echo(
            "note: no trusted node key: no account is accepted (each is proven by its events sealed with a "
            "trusted node key), so logins and API tokens are refused; letter preview, approval and "
            "documents are refused too",
            err=True,
        )
    if not sealing:
        tokens = "API tokens of proven users still work" if trusted else "pass --node-key"
        typer.echo(
            "note: no node key to seal with: logins are refused (each session is sealed in the node's "
            f"chain as an account event; {tokens}), and so are approvals, payments and disputes",
            err=True,
        )
    typer.echo(f"swarmscope console on {url} (Ctrl-C stops it)", err=True)
