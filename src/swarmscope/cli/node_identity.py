"""The monitor node's signing identity: which key file, refusing a mistyped one, announcing a new one.

A node is known to third parties by the fingerprint of its Ed25519 key (``verify --expect-key``). Three
mistakes would silently give a store a second identity, and each gets one clear line instead:

* ``--node-key`` naming a directory that does not exist (a typo): refused before anything is created —
  no key, no directory, no database (:func:`check_key_path`).
* a key file created by this run: announced on stderr with its path and fingerprint, so the operator
  publishes it or notices it was not meant (:func:`open_signing_key`).
* a key that sealed nothing in a store whose ledger other keys sealed: a warning naming those keys
  (:func:`warn_other_signers`). The run still goes on: several monitor nodes may share one PostgreSQL
  store by design, each with its own chain, and ``export`` bundles one node's evidence at a time.

The default key location (beside an SQLite file, else ``$XDG_DATA_HOME/swarmscope``; see
:func:`swarmscope.store.ledger.node_key.default_key_path`) may have its directory created.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli.text import clean
from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, StoreError, database_url, open_store, sqlite_file
from swarmscope.store.ledger import entries as lq
from swarmscope.store.ledger.head_witness import WitnessError, key_file_fingerprint, witness_path
from swarmscope.store.ledger.node_key import (
    NodeKeyFile,
    default_key_path,
    load_or_create_node_key,
    open_node_key,
)
from swarmscope.store.ledger.witness_cover import require_heads, untrusted_sealers
from swarmscope.store.ledger.witness_reset import reset_notes

SigningKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--node-key", help="The node's key file that seals this decision (default: beside the database)."
    ),
]


def check_key_path(explicit: str | None) -> None:
    """Refuse an explicit ``--node-key`` whose directory is missing, or that names a non-file.

    Raises:
        InputError: naming the option, the path and the problem (nothing is created).
    """
    if explicit is None:
        return
    path = Path(explicit)
    if not path.parent.is_dir():
        raise InputError(
            f"--node-key {explicit}: directory {path.parent} does not exist; nothing was created (a key there"
            " would be a new signing identity: check the path, or create the directory first)"
        )
    if path.exists() and not path.is_file():
        raise InputError(f"--node-key {explicit}: not a regular file")


def load_node_key(path: Path) -> Ed25519PrivateKey:
    """Read the node's signing key (never creates one: an export signs with the key that sealed the ledger).

    The file is checked like the monitor's (:func:`swarmscope.store.ledger.node_key.load_or_create_node_key`):
    a regular file of at most 64 KiB, not readable by group or other.

    Raises:
        InputError: missing, unreadable, readable by others, or not an Ed25519 PEM private key.
    """
    if not path.exists():
        raise InputError(f"node key {path}: no such file")
    try:
        return load_or_create_node_key(path)
    except StoreError as exc:
        if isinstance(exc.__cause__, DecodeError):
            raise InputError(f"node key {path}: corrupt, or not an Ed25519 PEM private key") from None
        raise InputError(str(exc)) from None


def open_signing_key(db: str, explicit: str | None, say: Callable[[str], None]) -> NodeKeyFile:
    """The node key of a monitor run: ``explicit`` or the default beside ``db``, created on first use.

    Args:
        db: the store's path or URL. explicit: ``--node-key`` (None: the default location).
        say: prints one line on stderr; called once when a key file is created here.

    Raises:
        InputError: see :func:`check_key_path`. StoreError: unreadable, unsafe or corrupt key file.
    """
    check_key_path(explicit)
    path = Path(explicit) if explicit is not None else default_key_path(db)
    opened = open_node_key(path, make_dir=explicit is None)
    if opened.created:
        say(f"created node key {opened.path}, fingerprint {opened.fingerprint}")
    return opened


def other_signers(store: Store, fingerprint: str) -> list[str]:
    """Fingerprints of the keys that sealed this store's batches, when ``fingerprint`` sealed none of them."""
    sealed = lq.sealing_nodes(store)
    return [] if fingerprint in sealed else sorted(sealed)


def attach_signing_key(
    store: Store, key: Ed25519PrivateKey, path: Path, now_us: int, *, quiet: bool = False
) -> None:
    """Make ``store`` a writer for ``key`` (read from ``path``: it seals a purge record or a workflow
    decision), refusing a key that sealed nothing in a store other keys sealed (that would start a second
    signing identity). ``quiet``: no warning that there is no witness yet (the caller already reported the
    witness, :func:`echo_witness_notes`).

    Raises:
        InputError: naming the key, its fingerprint and the keys that sealed the store.
    """
    fingerprint = key_fingerprint(public_key_raw(key))
    others = other_signers(store, fingerprint)
    if others:
        raise InputError(
            f"node key {path} (fingerprint {fingerprint}) sealed nothing in this store, which "
            f"{', '.join(others)} sealed: pass the key file that sealed it with --node-key"
        )
    store.attach_node_key(key, now_us)
    bind_witness(store, path, (lambda _line: None) if quiet else (lambda line: _say(f"warning: {line}")))


def bind_witness(store: Store, key_path: Path, warn: Callable[[str], None]) -> None:
    """Check a writer's database against the chain-head witness beside its key file
    (:mod:`swarmscope.store.ledger.head_witness`) and keep the witness up to date from each seal on; warn
    (one line) when there is none yet for a chain sealed before witnesses were marked in its batches (the
    next seal creates it).

    Raises:
        StoreError: the database lacks the witnessed head (truncated or rewritten tail), the witness is
            unreadable or its signature does not hold, or there is no witness while the node's chain says
            one was kept (never re-created silently: ``swarmscope witness reset`` seals that it was lost).
    """
    fingerprint = None if store.node is None else store.node.fingerprint
    check_witness(store, "", key_path, fingerprint=fingerprint)
    store.witness = witness_path(key_path)
    sealed = store.node is not None and store.node.fingerprint in lq.sealing_nodes(store)
    if sealed and not store.witness.exists():
        warn(
            f"no chain-head witness {witness_path(key_path)} yet: the tail of this database's chain was not "
            "checked; the next seal creates it"
        )


def check_witness(
    store: Store,
    db: str,
    explicit: Path | Sequence[Path] | None,
    *,
    fingerprint: str | None = None,
    unchecked: bool = True,
    every: bool = False,
    trusted: Collection[str] = (),
) -> list[str]:
    """Refuse (reader commands that accuse, ``export``, ``verify --db``, and writers before they seal) a
    database that lacks the head witnessed beside a node key file: ``explicit`` (``--node-key``, which
    may name a public-key file; several for ``verify --db``) and the default key path beside ``db``,
    each witness found there checked; and one in which a node whose batches say a witness was kept has
    not had its own checked (a witness found for another node never stands in for it:
    :mod:`swarmscope.store.ledger.witness_cover`). Which nodes must have theirs: ``every`` node
    (``verify --db``), else ``fingerprint``'s (a writer), else the node of the key file given (of the
    default one without ``explicit``) and each ``trusted`` one (a reader's ``--trust-key``), else, with
    none of them, every node.

    Returns:
        The lines the caller prints as notes: one per sealed witness reset
        (:func:`swarmscope.store.ledger.witness_reset.reset_notes`), and, with no witness in a chain that
        never marked one, ``tail not checked: no chain-head witness at PATH`` (without a witness a
        truncated tail leaves a chain that verifies, so that is never silent; ``unchecked`` False: left
        out, for the commands that never said it, ``export`` and ``cases build``).

    Raises:
        StoreError: naming the witness and what the chain lacks, or the node left without its own
            witness and the ``--node-key`` to pass.
    """
    given, others = _given(explicit), witness_keys()
    own = given + ([default_key_path(db)] if db or not given else [])
    keys = list(dict.fromkeys(own + others))
    paths = [witness_path(key) for key in keys]
    found = [path for path in paths if path.exists()]
    try:
        required = None if every else _own_nodes((given or own) + others, fingerprint, trusted)
        covered = require_heads(store, paths, frozenset(), required)
    except WitnessError as exc:
        raise StoreError(str(exc)) from None
    notes = reset_notes(store)
    unwitnessed = sorted(set(lq.sealing_nodes(store)) - covered)
    if unchecked and not found:  # with no witness the tail is never silently passed (an emptied database too)
        notes.append(f"tail not checked: no chain-head witness at {' or '.join(str(p) for p in paths)}")
    elif unchecked and every:
        notes += [f"tail not checked: node {fp} has no chain-head witness here" for fp in unwitnessed]
    return notes


WITNESS_KEYS_ENV = "SWARMSCOPE_WITNESS_KEYS"


def witness_keys() -> list[Path]:
    """Other nodes' key files (public PEM will do) whose chain-head witness copies sit beside them
    (``<key file>.head``), from :data:`WITNESS_KEYS_ENV` (paths separated by ``os.pathsep``): a reader
    that trusts a fleet's nodes checks each one's own witness (README "Sealed ledger"), and each node
    keeps its witness on its own machine, so the reader is given copies. Empty when unset.

    Raises:
        StoreError: a path named there is not a key file (missing, unreadable, or holding no Ed25519 key):
            a mistyped path would otherwise leave that node's witness unchecked without a word.
    """
    text = os.environ.get(WITNESS_KEYS_ENV, "")
    paths = [Path(part) for part in text.split(os.pathsep) if part.strip()]
    for path in paths:
        if key_file_fingerprint(path) is None:
            state = "no such file" if not path.exists() else "not an Ed25519 key file (private or public PEM)"
            raise StoreError(f"{WITNESS_KEYS_ENV}: {path}: {state}")
    return paths


def refuse_untrusted_kept(store: Store, default: Path, trusted: set[str]) -> None:
    """A reader that took its trust from the key file beside the database (no ``--node-key``): refuse when
    another node holds entries or batches here and is not trusted
    (:func:`~swarmscope.store.ledger.witness_cover.untrusted_sealers`). With the node's key kept apart,
    someone who can write the database's directory could otherwise plant a key there, seal forged hits
    with it and become the trust root of the next reader run without ``--node-key``. A witness checked
    (a copy named in ``SWARMSCOPE_WITNESS_KEYS``) is never trust.

    Raises:
        StoreError: naming the untrusted node and the options that settle it.
    """
    others = untrusted_sealers(store, trusted)
    if others:
        raise StoreError(
            f"database refused: node {others[0]} holds evidence here but is neither the node of the key"
            f" file beside the database ({default}) nor trusted: say whose evidence to use with --node-key"
            " KEY (the key file that sealed it) or --trust-key FINGERPRINT"
        )


def _given(explicit: Path | Sequence[Path] | None) -> list[Path]:
    """The key files given with ``--node-key`` (none, one or several)."""
    return [] if explicit is None else [explicit] if isinstance(explicit, Path) else list(explicit)


def _own_nodes(keys: list[Path], fingerprint: str | None, trusted: Collection[str]) -> set[str] | None:
    """The nodes whose own witness must be checked: ``fingerprint``'s, else those of the key files
    ``keys`` (private or public PEM) and the ``trusted`` fingerprints; None (every node) when there are
    none."""
    if fingerprint is not None:
        return {fingerprint}
    owners = {fp for key in keys if (fp := key_file_fingerprint(key)) is not None}
    return (owners | set(trusted)) or None


def echo_witness_notes(
    store: Store, db: str, explicit: Path | None, *, unchecked: bool = True, trusted: Collection[str] = ()
) -> None:
    """:func:`check_witness` for a reader (``export``, ``cases build``, the accusing commands), its notes
    printed on stderr, one ``note:`` line each; each ``trusted`` node (the evidence it proves against)
    must have its own witness checked when its chain says one was kept.

    Raises:
        StoreError: see :func:`check_witness`.
    """
    for note in check_witness(store, db, explicit, unchecked=unchecked, trusted=trusted):
        _say(f"note: {clean(note)}")


def signing_key(db: str, explicit: Path | None, *, create: bool = False) -> tuple[Ed25519PrivateKey, Path]:
    """The node key that seals workflow decisions: ``explicit`` or the default beside ``db``. With
    ``create`` (a command that may create the database) a missing key is created and announced on stderr,
    as ``monitor`` does, when the database is new too (an existing store keeps the key that sealed it);
    otherwise it must exist.

    Raises:
        InputError: missing (the message says why the key is needed), unreadable or not a private key.
    """
    if create and not _existing_database(db):
        opened = open_signing_key(db, None if explicit is None else str(explicit), _say)
        return opened.key, opened.path
    path = explicit if explicit is not None else default_key_path(db)
    if not path.exists():
        raise InputError(
            f"node key {path}: no such file; this decision is sealed in the ledger with the node's signing "
            "key (pass the key file that sealed the evidence with --node-key)"
        )
    return load_node_key(path), path


def _existing_database(db: str) -> bool:
    """True unless ``db`` names an SQLite file that does not exist yet (a server database exists)."""
    path = sqlite_file(database_url(db))
    return path is None or Path(path).exists()


def _say(line: str) -> None:
    typer.echo(line, err=True)


@contextmanager
def signing_store(db: str, explicit: Path | None, now_us: int, *, create: bool = False) -> Iterator[Store]:
    """The store ``db`` as a writer for the node key (:func:`signing_key`), closed on leaving; the key is
    checked before the database is opened (a refused key creates no database).

    Raises:
        InputError: see :func:`signing_key`, :func:`attach_signing_key`. StoreError: no such database.
    """
    key, path = signing_key(db, explicit, create=create)
    store = open_store(db, create=create)
    try:
        attach_signing_key(store, key, path, now_us)
        yield store
    finally:
        store.close()


def warn_other_signers(store: Store, key: NodeKeyFile, warn: Callable[[str], None]) -> None:
    """Warn (one line) when the store's ledger was sealed only by other keys than ``key``."""
    others = other_signers(store, key.fingerprint)
    if others:
        warn(
            f"this store's ledger is signed by another node key ({', '.join(others)}), not by {key.path}"
            f" (fingerprint {key.fingerprint}): this run starts a second chain under a new identity; stop"
            " and pass the key file that sealed it with --node-key unless a second node is meant"
        )
