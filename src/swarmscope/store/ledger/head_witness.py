"""The signed chain-head witness kept beside the node key file: the tail of a chain no database can prove.

The ledger proves every entry up to the newest batch that survives: deleting the newest entries, their
batch and their rows (a payment, a dispute) leaves a shorter chain whose seals all verify. A database
cannot prove its own tail, so after every batch a node seals (monitor runs, workflow decisions, purges,
fleet nodes: :func:`swarmscope.store.ledger.commit.commit` notes the new head on the connection, the store
writes it once the transaction has committed) the node keeps a witness beside the key file,
``<key file>.head``. It holds the node's key fingerprint, the
last chain index and that entry's hash, signed with the node's Ed25519 key (RFC 8032) over
``b"swarmscope head witness v1\\n"`` and the UTF-8 JSON of those three (keys sorted, no whitespace, hash
as hex). It is replaced atomically (temporary file, fsync, rename, directory fsync) and never moved back:
a seal whose index is not past the witnessed one (two processes racing) leaves it as it is.

A database "holds the witnessed head" when its chain for that node has the entry at the witnessed index
with the witnessed hash (:func:`witness_problem`); a truncated or rewritten tail does not. The witness
must be the key file's: one whose fingerprint is not that of the key beside it (private or public PEM)
is refused as foreign (:func:`swarmscope.store.ledger.witness_cover.foreign_problem`), and a witness
index must fit a chain index (:func:`read_witness`). Writers check it before sealing
(:meth:`swarmscope.store.database.Store.bind_witness`), and the commands that accuse and ``verify --db``
check it when the witness is at hand. A database sealed before witnesses existed has
none: the next seal creates it (the caller warns once that the tail was not checked).

A deleted witness must not hide a truncated tail, so a writer that keeps a witness says so in what it
seals: each batch it seals carries ``head_witness: true`` in its signed clock
(:data:`swarmscope.evidence.seal.WITNESS_KEPT`; :func:`marked_clock`, set per transaction by
:func:`keep`). A database whose chain holds such a batch and no witness beside the key is refused as a
truncated one (:mod:`swarmscope.store.ledger.witness_cover`: each such node must have its own witness
checked; one found for another node never stands in for it); only a sealed reset
(:mod:`swarmscope.store.ledger.witness_reset`) creates a new witness then. Batches sealed before the
marker existed carry none and keep the older rule (no witness yet: the next seal creates it). Limit: a
tail truncated back to before the first marked batch looks like such an older database.

Limit: the witness defends the tail only against a writer of the database who cannot write the key
file's directory. Whoever can write there can put back an OLDER copy of the node's own witness after
truncating the tail, and nothing kept beside the database tells that from an honest state. The default
SQLite layout keeps the key (and so the witness) beside the database, in one directory: keep them apart
(``--node-key`` in a directory the database's writer cannot write), and record the head ``verify --db``
prints outside the database (``verify --db --expect-head FINGERPRINT:INDEX:HASH``:
:mod:`swarmscope.store.ledger.head_anchor`).

Source: README "Sealed ledger" (chain-head witness); RFC 8032 (Ed25519).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swarmscope.errors import DecodeError, SwarmscopeError
from swarmscope.evidence.canonical import value_to_bencode
from swarmscope.evidence.seal import (
    WITNESS_KEPT,
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_key_raw,
)
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key
from swarmscope.wire.bencode import encode

SUFFIX = ".head"
SEALED_HEAD = "swarmscope_sealed_head"  # connection.info key: (fingerprint, last index, head hash)
KEEPS = "swarmscope_keeps_witness"  # connection.info key: this transaction's writer keeps a witness
# the signed batch bytes of a marked batch hold this (bencoded clock item, BEP 3; evidence.seal layout)
_MARK = f"{len(WITNESS_KEPT)}:{WITNESS_KEPT}".encode() + encode(value_to_bencode(True))
_PREFIX = b"swarmscope head witness v1\n"
_MAX_BYTES = 4096
_MAX_KEY_FILE = 64 * 1024  # as node_key reads a key file
MAX_INDEX = 2**63 - 1  # a chain index fits a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT)
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")  # hex SHA-256 of the raw public key (evidence.seal)
SET_ASIDE = (
    "move it aside (keep it as proof); if the node's own witness is lost, seal that with `swarmscope"
    " witness reset --db DB --node-key KEY`"
)


class WitnessError(SwarmscopeError):
    """A witness file that cannot be read, or whose signature does not hold (the message names it)."""


@dataclass(frozen=True, slots=True)
class HeadWitness:
    """A witnessed chain head: the node's key fingerprint (hex), last chain index, its entry hash (32 B)."""

    fingerprint: str
    last_index: int
    head_hash: bytes

    def signed_bytes(self) -> bytes:
        fields = {"fingerprint": self.fingerprint, "last_index": self.last_index}
        text = json.dumps(fields | {"head_hash": self.head_hash.hex()}, sort_keys=True, separators=(",", ":"))
        return _PREFIX + text.encode("utf-8")


def witness_path(key_path: Path | str) -> Path:
    """``<key file>.head``."""
    return Path(str(key_path) + SUFFIX)


def read_witness(path: Path) -> tuple[HeadWitness, bytes] | None:
    """The witness at ``path`` and its signature (None: no file); the signature is not checked here
    (:func:`check_signature`). The fingerprint must be 64 lower-case hex digits and ``last_index`` a JSON
    integer in 0..:data:`MAX_INDEX` (a chain index the database can hold: JSON ``Infinity`` or ``2**70``
    would overflow the query).

    Raises:
        WitnessError: unreadable or malformed (one line naming the file and what to do).
    """
    try:
        if not path.exists():
            return None
        data = _read_regular(path, _MAX_BYTES)
    except OSError as exc:
        raise WitnessError(f"chain-head witness {path}: cannot read: {exc.strerror or exc}") from None
    if data is None:  # a FIFO would block every reader; a device could be endless
        raise WitnessError(f"chain-head witness {path}: not a regular file: {SET_ASIDE}")
    try:
        doc = json.loads(data)
        head, index, fingerprint = bytes.fromhex(doc["head_hash"]), doc["last_index"], doc["fingerprint"]
        if type(index) is not int or not 0 <= index <= MAX_INDEX:
            raise ValueError(f"last_index is not a chain index 0..{MAX_INDEX}")
        if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
            raise ValueError("fingerprint is not 64 hex digits")
        return HeadWitness(fingerprint, index, head), bytes.fromhex(doc["signature"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # RecursionError: deep nesting
        why = " ".join(str(exc).split())[:120]
        raise WitnessError(f"chain-head witness {path}: malformed ({why}): {SET_ASIDE}") from None


def _read_regular(path: Path, limit: int) -> bytes | None:
    """At most ``limit + 1`` bytes of ``path`` when it is a regular file (opened without blocking, then
    checked, so a FIFO swapped in meanwhile does not hang the reader); None for anything else.

    Raises:
        OSError: it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        return file.read(limit + 1)


def key_file_fingerprint(path: Path) -> str | None:
    """The fingerprint (hex SHA-256 of the raw public key) of the key in ``path``: the node's private key
    PEM (PKCS#8, RFC 8410) or a public key PEM (SubjectPublicKeyInfo); None when there is no such file,
    it cannot be read or it holds neither (its first 64 KiB are read; nothing is signed with it)."""
    try:
        head = (_read_regular(path, _MAX_KEY_FILE) or b"")[:_MAX_KEY_FILE] if path.exists() else b""
    except OSError:
        return None
    try:
        if b"PUBLIC KEY" in head:
            return key_fingerprint(load_public_key(head).public_bytes_raw())
        return key_fingerprint(public_key_raw(load_private_key(head))) if head else None
    except DecodeError:
        return None


def check_signature(path: Path, witness: HeadWitness, signature: bytes, public_key: bytes) -> None:
    """Raise :class:`WitnessError` unless ``signature`` is ``public_key``'s over the witness and the key
    is the one its fingerprint names."""
    try:
        if key_fingerprint(public_key) != witness.fingerprint:
            raise InvalidSignature
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, witness.signed_bytes())
    except (InvalidSignature, ValueError):
        raise WitnessError(f"chain-head witness {path}: its signature does not hold") from None


def write_witness(path: Path, key: Ed25519PrivateKey, last_index: int, head_hash: bytes) -> bool:
    """Witness ``key``'s chain head (atomic replace; module docstring). Returns False when the witness
    already there, signed by ``key``, is at or past ``last_index`` (it is kept).

    Raises:
        OSError: the directory cannot be written.
    """
    raw = public_key_raw(key)
    try:
        found = read_witness(path)
        if found is not None:
            check_signature(path, *found, raw)
    except WitnessError:
        found = None
    if found is not None and found[0].last_index >= last_index:
        return False
    witness = HeadWitness(key_fingerprint(raw), last_index, head_hash)
    signature = key.sign(witness.signed_bytes())
    doc = json.loads(witness.signed_bytes()[len(_PREFIX) :]) | {"signature": signature.hex()}
    fd, tmp = tempfile.mkstemp(prefix=".node-head.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True


def witness_problem(conn: sa.Connection, path: Path) -> str | None:
    """Why the database does not hold the head witnessed at ``path`` (None: it does, or no witness is
    there): the witness's signature must hold under the key its fingerprint names, and that node's chain
    must have the entry at the witnessed index with the witnessed hash.

    Raises:
        WitnessError: the witness is unreadable, malformed or its signature does not hold.
    """
    found = read_witness(path)
    if found is None:
        return None
    witness, signature = found
    k = node_key.c
    rows = conn.execute(sa.select(k.id, k.public_key)).all()  # by the stored key, never the column
    named = [row for row in rows if key_fingerprint(bytes(row.public_key)) == witness.fingerprint]
    where = f"node {witness.fingerprint[:16]}…, index {witness.last_index}"
    if len(named) != 1:
        return (
            f"the database has no chain of the witnessed node ({where})"
            if not named
            else f"{len(named)} node key rows hold the witnessed node's key ({where})"
        )
    node = named[0]
    check_signature(path, witness, signature, bytes(node.public_key))
    e = ledger_entry.c
    found = conn.execute(
        sa.select(e.entry_hash).where(e.node_id == node.id, e.idx == witness.last_index)
    ).first()
    if found is None:
        return f"its chain lacks the witnessed head ({where}): its tail was truncated"
    if bytes(found.entry_hash) != witness.head_hash:
        return f"its chain differs at the witnessed head ({where}): its tail was rewritten"
    return None


def keep(conn: sa.Connection, path: Path | None) -> None:
    """Note on ``conn`` whether the transaction about to run keeps the witness ``path`` (None: it does
    not), so that each batch it seals says so (:func:`marked_clock`)."""
    conn.info[KEEPS] = path is not None


def marked_clock(conn: sa.Connection, clock: dict[str, Any] | None) -> dict[str, Any] | None:
    """The batch clock to seal: ``clock`` with ``head_witness: true`` when the writer keeps a witness
    (:func:`keep`), else ``clock`` unchanged (module docstring)."""
    if not conn.info.get(KEEPS):
        return clock
    return {**(clock or {}), WITNESS_KEPT: True}


def holds(conn: sa.Connection, column: Any, needle: bytes) -> Any:
    """SQL: the byte string ``column`` contains ``needle`` (SQLite ``instr``, PostgreSQL ``position``)."""
    literal = sa.literal(needle, sa.LargeBinary)
    if conn.dialect.name == "postgresql":
        return sa.func.pg_catalog.position(column, literal) > 0  # position(bytea string, bytea substring)
    return sa.func.instr(column, literal) > 0


def kept_heads(conn: sa.Connection, fingerprint: str | None = None) -> dict[str, int]:
    """Node fingerprint → the last chain index of its newest batch whose signed bytes say a witness was
    kept, for every node (or only ``fingerprint``) with one; empty: no chain says so. The fingerprint is
    derived from the node's stored public key (evidence.seal), never read from its ``fingerprint``
    column, which an edit could point at another node."""
    b, k = ledger_batch.c, node_key.c
    query = (
        sa.select(k.public_key, sa.func.max(b.last_index))
        .join(node_key, k.id == b.node_id)
        .where(holds(conn, b.batch_bytes, _MARK))
        .group_by(k.id, k.public_key)
    )
    found: dict[str, int] = {}
    for public_key, last in conn.execute(query).all():
        fp = key_fingerprint(bytes(public_key))
        found[fp] = max(found.get(fp, -1), int(last))
    return found if fingerprint is None else {fp: n for fp, n in found.items() if fp == fingerprint}


def after_commit(conn: sa.Connection, path: Path | None, node: Any) -> None:
    """Witness the head a committed transaction on ``conn`` sealed (noted by the ledger commit), if any;
    nothing without a witness ``path`` or a ``node`` (:class:`swarmscope.store.ledger.commit.Node`) with
    its private key.

    Raises:
        WitnessError: the witness cannot be written (the batch is committed all the same).
    """
    sealed = conn.info.pop(SEALED_HEAD, None)
    key = None if node is None else node.private_key
    if sealed is not None and path is not None and key is not None:
        _fingerprint, last_index, head_hash = sealed
        try:
            write_witness(path, key, last_index, head_hash)
        except OSError as exc:
            raise WitnessError(f"chain-head witness {path}: cannot write: {exc.strerror or exc}") from None
