"""Study keys: 32 random bytes, kept by the researcher, never written into an export.

File format: the key as 64 lower-case hex digits and a newline, mode 0600 (like the node key, a secret).
``swarmscope research key FILE`` creates one (never over an existing file); ``research export
--key-file FILE`` reads it, and an export without ``--key-file`` draws an ephemeral key that only lives in
memory for that export.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from swarmscope.errors import InputError
from swarmscope.research.pseudonym import KEY_BYTES

_HEX = re.compile(rf"[0-9a-fA-F]{{{2 * KEY_BYTES}}}")
_MAX_FILE = 1024


def ephemeral_key() -> bytes:
    """A fresh random key for one export (``secrets``: the operating system's CSPRNG)."""
    return secrets.token_bytes(KEY_BYTES)


def create_study_key(path: Path) -> None:
    """Write a new study key to ``path`` (mode 0600; the file must not exist).

    Raises:
        InputError: the file exists, or cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{path}: exists; a study key is never overwritten (choose a new file)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot create: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(ephemeral_key().hex() + "\n")


def load_study_key(path: Path) -> bytes:
    """The key in ``path``.

    Raises:
        InputError: missing, unreadable, or not 64 hex digits (create one with ``research key``).
    """
    try:
        text = path.read_bytes()[:_MAX_FILE].decode("ascii").strip()
    except FileNotFoundError:
        raise InputError(
            f"--key-file {path}: no such file (create one with 'swarmscope research key')"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--key-file {path}: cannot read a study key ({type(exc).__name__})") from None
    if not _HEX.fullmatch(text):
        raise InputError(f"--key-file {path}: not a study key ({2 * KEY_BYTES} hex digits)")
    return bytes.fromhex(text)
