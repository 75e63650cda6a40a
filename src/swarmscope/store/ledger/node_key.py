"""The monitor node's Ed25519 signing key file: created on first use, written atomically, mode 0600.

One key per monitor node signs every sealed batch that node commits (README "Sealed ledger"). The file is the
unencrypted PKCS#8 PEM of :func:`swarmscope.evidence.seal.private_key_pem` (RFC 8410); protect it like
any private key (the file is created ``0600`` and refused when group/other may read it).

Atomic creation: the PEM is written to a temporary file in the same directory, flushed and fsynced,
``link``ed to the final name (which fails if another process created the key first, so two monitors
starting at once end up with the same key), then the directory is fsynced. A crash leaves either no
key file or a complete one, never a truncated one.

Where a key may be created: only in a directory that already exists (``make_dir`` is for the default
location, see :func:`default_key_path`). A mistyped ``--node-key`` path must not quietly become a second
signing identity (with its own directory): every seal it made would belong to a node nobody published.
Every creation is reported (:attr:`NodeKeyFile.created`) so the caller can announce the new fingerprint.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import DecodeError
from swarmscope.evidence.seal import (
    key_fingerprint,
    load_private_key,
    private_key_pem,
    public_key_pem,
    public_key_raw,
)
from swarmscope.store.database import StoreError, database_url, sqlite_file

KEY_FILE_SUFFIX = ".node-key.pem"
KEY_FILE_NAME = "node-key.pem"
_MAX_KEY_FILE = 64 * 1024


@dataclass(frozen=True, slots=True)
class NodeKeyFile:
    """A node key file opened by :func:`open_node_key`.

    Args:
        key: the private key. path: the file. fingerprint: hex SHA-256 of the raw public key (how reports,
            bundles and ``verify --expect-key`` name the node). created: True when this call wrote the file.
    """

    key: Ed25519PrivateKey
    path: Path
    fingerprint: str
    created: bool


def default_key_path(db_url_or_path: str) -> Path:
    """Where the node key of a store lives by default.

    Args:
        db_url_or_path: the store's path or SQLAlchemy URL (as given to ``open_store``).

    Returns:
        For an SQLite file ``x.db``: ``x.db.node-key.pem`` beside it. Otherwise (PostgreSQL, in-memory)
        ``$XDG_DATA_HOME/swarmscope/node-key.pem``, or ``~/.local/share/swarmscope/node-key.pem`` when
        ``XDG_DATA_HOME`` is unset or empty (read at call time).
    """
    path = sqlite_file(database_url(db_url_or_path))
    if path is not None:
        return Path(path + KEY_FILE_SUFFIX)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "swarmscope" / KEY_FILE_NAME


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path, make_dir: bool) -> tuple[Ed25519PrivateKey, bool]:
    """Write a new key atomically (see the module docstring).

    Returns:
        Whichever key ended up at ``path``, and True when it is the one written here (False: another
        process created it first).

    Raises:
        StoreError: the directory does not exist (and ``make_dir`` is False) or is not a directory.
        OSError: the directory or file cannot be written.
    """
    if make_dir:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif not path.parent.is_dir():
        raise StoreError(
            f"node key {path}: directory {path.parent} does not exist; nothing was created (check the"
            " path: a key there would be a new signing identity; create the directory first if it is meant)"
        )
    key = Ed25519PrivateKey.generate()
    fd, tmp = tempfile.mkstemp(prefix=".node-key.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_pem(key))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # never replaces an existing key (unlike rename)
        except FileExistsError:
            return _load(path), False  # another process won the race; use its key
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return key, True


def _load(path: Path) -> Ed25519PrivateKey:
    """Read and check an existing key file: a regular file of at most 64 KiB, a private key (a public key
    PEM, RFC 8410 SubjectPublicKeyInfo, is named as one before its permissions are judged: a public key
    may be world-readable, and "chmod 600" would be the wrong fix), not readable by group/other."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"node key {path}: not a regular file")
        if info.st_size > _MAX_KEY_FILE:
            raise StoreError(f"node key {path}: {info.st_size} bytes is too large for a key file")
        pem = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"node key {path}: cannot read: {exc.strerror or exc}") from exc
    if b"-----BEGIN PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise StoreError(
            f"node key {path}: a public key; this needs the node's private key file (the one that seals)"
        )
    if info.st_mode & 0o077:
        raise StoreError(
            f"node key {path}: permissions {stat.S_IMODE(info.st_mode):04o} let others read it; "
            "make it 0600 (chmod 600) after checking nobody copied it"
        )
    try:
        return load_private_key(pem)
    except DecodeError as exc:
        raise StoreError(f"node key {path}: corrupt or not an Ed25519 PEM key ({exc})") from exc


def open_node_key(path: Path | str, *, make_dir: bool = False) -> NodeKeyFile:
    """Load the node's Ed25519 signing key, creating it (atomically, mode 0600) on first use.

    Args:
        path: the key file (see :func:`default_key_path`).
        make_dir: create missing parent directories (mode 0700). Only for the default location; an
            explicit path must name an existing directory.

    Returns:
        :class:`NodeKeyFile`; ``created`` tells the caller to announce the new fingerprint.

    Raises:
        StoreError: the directory does not exist (without ``make_dir``); the file is unreadable, not a
            regular file, readable by group/other, corrupt or not an Ed25519 key, or cannot be created.

    Source: RFC 8410 (Ed25519 keys in PKCS#8 PEM); one key per monitor node, created on first use.
    """
    path = Path(path)
    created = False
    try:
        if path.exists():
            key = _load(path)
        else:
            key, created = _create(path, make_dir)
    except OSError as exc:
        raise StoreError(f"node key {path}: cannot create: {exc.strerror or exc}") from exc
    return NodeKeyFile(key, path, key_fingerprint(public_key_raw(key)), created)


def load_or_create_node_key(path: Path | str, *, make_dir: bool = False) -> Ed25519PrivateKey:
    """The key of :func:`open_node_key` (same arguments and errors), for callers that announce nothing."""
    return open_node_key(path, make_dir=make_dir).key


def export_public_key(key: Ed25519PrivateKey, path: Path | str) -> Path:
    """Write the node's public key as PEM SubjectPublicKeyInfo (RFC 8410) for third parties.

    Args:
        key: the node key. path: the file to write (replaced if present).

    Returns:
        The path written.

    Raises:
        StoreError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.write_bytes(public_key_pem(key))
    except OSError as exc:
        raise StoreError(f"public key {path}: cannot write: {exc.strerror or exc}") from exc
    return path
