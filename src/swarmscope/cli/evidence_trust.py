"""Which node keys the legal workflow trusts: ``--node-key`` and ``--trust-key`` on every accusing command.

Whoever can write the database can also add a ``node_key`` row and sign batches with a key of their own,
so the workflow never trusts a key because the database names it. It trusts:

- the public key of the node's key file: ``--node-key PATH`` (the private key file the monitor signs
  with, checked like ``export`` checks it, or a public key PEM written for third parties), by default the
  monitor's default key file (``<db>.node-key.pem`` beside an SQLite database, see
  :func:`swarmscope.store.ledger.node_key.default_key_path`); and/or
- fingerprints given with ``--trust-key HEX`` (hex SHA-256 of the raw 32-byte Ed25519 key, as ``swarmscope
  verify`` and ``export`` print it). When only ``--trust-key`` is given, the default key file is not read.

Nothing is ever created here. No key at all is one line and exit status 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cli.node_identity import load_node_key, refuse_untrusted_kept
from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.seal import key_fingerprint, load_public_key, public_key_raw
from swarmscope.store.database import Store, StoreError, open_store
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.proven import EvidenceTrust

NodeKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--node-key",
        help="The monitor node's key file (or its public key PEM) whose seals the evidence must carry "
        "(default: beside the database).",
    ),
]
TrustKeyOption = Annotated[
    list[str] | None,
    typer.Option("--trust-key", help="Also trust seals by this node key fingerprint (64 hex digits)."),
]
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_KEY_FILE = 64 * 1024


def _file_fingerprint(path: Path) -> str:
    """Fingerprint of the public key in ``path`` (public PEM, or the node's private key file)."""
    try:
        head = path.read_bytes()[:_MAX_KEY_FILE] if path.is_file() else b""
    except OSError as exc:
        raise InputError(f"node key {path}: cannot read: {exc.strerror or exc}") from None
    if b"PUBLIC KEY" in head:
        try:
            key = load_public_key(head)
        except DecodeError:
            raise InputError(f"node key {path}: not an Ed25519 public key PEM") from None
        return key_fingerprint(key.public_bytes_raw())
    return key_fingerprint(public_key_raw(load_node_key(path)))


def fingerprint_option(text: str, option: str) -> str:
    """A node key fingerprint given on the command line (``export --trust-key``, ``verify --expect-key``):
    64 hex digits (SHA-256 of the raw Ed25519 key), returned lower-cased.

    Raises:
        InputError: anything else, naming ``option`` and the first 80 characters given.
    """
    if not _HEX64.fullmatch(text.lower()):
        raise InputError(f"{option} {text[:80]!r}: not a key fingerprint (64 hex digits)")
    return text.lower()


def workflow_trust(
    db: str, node_key: Path | None, trust_keys: list[str] | None, now_us: int
) -> EvidenceTrust:
    """The keys (and clock) the workflow proves evidence against (see the module docstring).

    Raises:
        InputError: a fingerprint that is not 64 hex digits; a key file missing, unreadable or not a key;
            no key at all.
    """
    fingerprints = set()
    for text in trust_keys or ():
        value = text.strip().lower()
        if not _HEX64.fullmatch(value):
            raise InputError(f"--trust-key {text!r}: a node key fingerprint is 64 hex digits")
        fingerprints.add(value)
    path = node_key if node_key is not None else (None if fingerprints else default_key_path(db))
    if path is not None:
        if not path.exists():
            raise InputError(
                f"no node key at {path}: pass the key file that sealed the evidence with --node-key, or its "
                "fingerprint with --trust-key (only evidence sealed by a trusted node is used)"
            )
        fingerprints.add(_file_fingerprint(path))
    return EvidenceTrust(frozenset(fingerprints), now_us)


def view_trust(
    db: str, node_key: Path | None, trust_keys: list[str] | None, now_us: int
) -> EvidenceTrust | None:
    """The keys a view (``cases list``/``show``) proves cases against: as :func:`workflow_trust`, except that
    with no option given and no key file beside the database it is None (the view then marks every case
    as not proven instead of refusing to list them).

    Raises:
        InputError: as :func:`workflow_trust`, for a key or fingerprint given on the command line.
    """
    if node_key is None and not trust_keys and not default_key_path(db).exists():
        return None
    trust = workflow_trust(db, node_key, trust_keys, now_us)
    try:
        refuse_default_trust(db, trust, node_key, trust_keys)
    except StoreError as exc:  # shown, never proven: the views list what the documents would refuse
        typer.echo(f"note: {exc}; every case is shown unproven", err=True)
        return None
    return trust


def refuse_default_trust(
    db: str,
    trust: EvidenceTrust,
    node_key: Path | None,
    trust_keys: Sequence[str] | None,
    store: Store | None = None,
) -> None:
    """Refuse ``trust`` when it was taken from the key file beside the database (neither ``node_key`` nor
    ``trust_keys`` given) and another node holds evidence in it
    (:func:`swarmscope.cli.node_identity.refuse_untrusted_kept`): with the node's key kept apart, that
    file may be a key planted by someone who can write the directory. Nothing to do when a key or a
    fingerprint was named. ``store``: the command's open store (else ``db`` is opened; one that cannot
    be is left to the command, which says why).

    Raises:
        StoreError: naming the node and the options that settle it.
    """
    if node_key is not None or trust_keys:
        return
    if store is not None:
        refuse_untrusted_kept(store, default_key_path(db), set(trust.fingerprints))
        return
    try:
        opened = open_store(db, create=False)
    except StoreError:
        return
    with opened:
        refuse_untrusted_kept(opened, default_key_path(db), set(trust.fingerprints))
