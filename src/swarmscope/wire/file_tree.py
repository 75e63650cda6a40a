"""The file layout of a torrent: the v1 ``files`` list / single file and the v2 ``file tree``.

Paths are sanitised the way libtorrent does it (so names and duplicate detection agree with it);
pad files (BEP 47) are kept as entries because they occupy piece space. A hybrid torrent's two
layouts must describe the same files (:func:`layout_mismatch`).

Sources: BEP 3 (info.files, info.length), BEP 47 (attr, pad files), BEP 52 (file tree, pieces root,
piece alignment, hybrid torrents); libtorrent ``torrent_info.cpp`` (``sanitize_append_path_element``,
``extract_single_file``, ``extract_files2``, ``resolve_duplicate_filenames_slow``) and
``file_storage.cpp`` (``aux::files_compatible``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.wire.types import BLOCK_SIZE

MAX_TREE_DEPTH = 100  # libtorrent extract_files2 recursion limit
MAX_COLLISIONS = 100  # libtorrent: more duplicate-name collisions than this rejects the torrent
MAX_NAME_BYTES = 240  # libtorrent keeps at most ~240 bytes of a path element (plus extension)
_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x200E, 0x200F}
_MAX_FILE_BLOCKS = (2**31 - 1) // 2  # libtorrent: file_size / 16 KiB must stay below INT_MAX / 2
_PAD_MARKER = "_____padding_file_"  # BitComet pad files (BEP 47 predecessor)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a torrent in piece-space order.

    Attributes:
        path: path elements below the torrent name (sanitised; pad files ``(".pad", "N")``).
        length: bytes (0 for symlinks).
        offset: byte offset of the file in the torrent's piece space.
        is_pad: a BEP 47 pad file (zeros, never stored).
        pieces_root: v2 merkle root (32 bytes) or None.
        is_symlink: BEP 47 ``attr`` contains ``l``.
    """

    path: tuple[str, ...]
    length: int
    offset: int
    is_pad: bool = False
    pieces_root: bytes | None = None
    is_symlink: bool = False


def sanitize_element(raw: bytes) -> str:
    """Sanitise one path element like libtorrent (POSIX build); ``""`` means "drop the element".

    Control characters and invalid UTF-8 become ``_``; ``/``, ``\\`` and bidi overrides are removed;
    ``.`` and ``..`` vanish; more than 240 bytes are cut, keeping a short extension.

    Source: libtorrent ``aux::sanitize_append_path_element``.
    """
    if raw == b".":
        return ""
    if not raw:
        return "_"
    text = raw.decode("utf-8", "surrogateescape")
    out: list[str] = []
    added = dots = 0
    i = 0
    found_ext = False
    while i < len(text):
        ch = text[i]
        cp = ord(ch)
        i += 1
        if cp == 0 or cp in _BIDI or ch in "/\\":  # NUL is filtered: strchr finds the terminator
            continue
        if 0xDC80 <= cp <= 0xDCFF or cp < 32:
            out.append("_")
            added += 1
            continue
        out.append(ch)
        dots += ch == "."
        added += len(ch.encode())
        if added >= MAX_NAME_BYTES and not found_ext:
            dot = text.rfind(".", max(len(text) - 9, i), len(text))
            if dot < 0:
                break
            found_ext = True
            i = dot
    if added == dots and added <= 2:
        return ""
    return "".join(out)


def _path_element(raw: bytes) -> str:
    """A path element below the torrent name: one that sanitises to nothing (``.``, ``..``, ``/``)
    becomes ``_`` instead of vanishing (libtorrent's ``force_element``)."""
    return sanitize_element(raw) or "_"


def _attr(entry: Mapping[bytes, Any]) -> str:
    attr = entry.get(b"attr")
    return attr.decode("latin-1") if isinstance(attr, bytes) else ""


def _length(entry: Mapping[bytes, Any], where: str, symlink: bool) -> int:
    if symlink:
        return 0
    length = entry.get(b"length", -1)
    if not isinstance(length, int) or length < 0 or length // BLOCK_SIZE >= _MAX_FILE_BLOCKS:
        raise DecodeError(f"{where}.length: missing, negative or too large: {length!r}")
    return length


def _check_string_list(value: Any, where: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise DecodeError(f"{where}: not a list of strings (possible exploit attempt)")
    return value


def _v1_entry(entry: Any, index: int, offset: int) -> FileEntry:
    where = f"info.files[{index}]"
    if not isinstance(entry, dict):
        raise DecodeError(f"{where}: not a dictionary")
    attr = _attr(entry)
    symlink = "l" in attr and isinstance(entry.get(b"symlink path"), list)
    length = _length(entry, where, "l" in attr)
    if symlink:
        _check_string_list(entry[b"symlink path"], f"{where}.symlink path")
    path = entry.get(b"path.utf-8")
    if not isinstance(path, list):
        path = entry.get(b"path")
    is_pad = "p" in attr
    if isinstance(path, list) and path:
        elements = tuple(_path_element(p) for p in _check_string_list(path, f"{where}.path"))
    elif is_pad:
        elements = (".pad", str(length))
    else:
        raise DecodeError(f"{where}.path: missing or empty")
    is_pad = is_pad or any(_PAD_MARKER in p for p in elements)
    return FileEntry(elements, length, offset, is_pad, None, symlink)


def files_v1(info: Mapping[bytes, Any], name: str) -> tuple[FileEntry, ...]:
    """Extract the v1 layout: ``info.files`` (multi-file) or ``info.length`` (single file).

    A file is a pad when its ``attr`` holds ``p`` or its path, the torrent name included, holds
    BitComet's ``_____padding_file_`` (so a torrent named that way has only pad files).

    Args:
        info: the info dict.
        name: the sanitised torrent name, the directory of every file of a multi-file torrent.

    Raises:
        DecodeError: an entry is malformed (named by index and key).

    Source: BEP 3 ("info dictionary"), BEP 47; libtorrent ``extract_single_file`` (the marker
    test runs on the whole path).
    """
    files = info.get(b"files")
    if files is None:
        raw = info.get(b"name.utf-8")
        if not isinstance(raw, bytes) or not raw:
            raw = info.get(b"name")
        path = sanitize_element(raw) if isinstance(raw, bytes) and raw else ""
        if not path:
            raise DecodeError("info.name: missing or empty (single-file torrent)")
        attr = _attr(info)
        is_pad = "p" in attr or _PAD_MARKER in path
        return (FileEntry((), _length(info, "info", "l" in attr), 0, is_pad, is_symlink="l" in attr),)
    if not isinstance(files, list):
        raise DecodeError("info.files: not a list")
    out: list[FileEntry] = []
    offset = 0
    for index, entry in enumerate(files):
        item = _v1_entry(entry, index, offset)
        out.append(replace(item, is_pad=True) if _PAD_MARKER in name else item)
        offset += item.length
    return tuple(out)


def _v2_leaf(leaf: Any, where: str, path: tuple[str, ...], offset: int) -> FileEntry:
    if not isinstance(leaf, dict):
        raise DecodeError(f"{where}: not a dictionary")
    attr = _attr(leaf)
    if "p" in attr:
        raise DecodeError(f"{where}.attr: pad attribute set in the v2 file tree")
    symlink = "l" in attr
    length = _length(leaf, where, symlink)
    target = leaf.get(b"symlink path") if symlink else None
    if target is not None:
        _check_string_list(target, f"{where}.symlink path")
        return FileEntry(path, 0, offset, is_symlink=True)
    root = leaf.get(b"pieces root")
    if length == 0 and root is None:
        return FileEntry(path, 0, offset)
    if not isinstance(root, bytes) or len(root) != 32 or (length > 0 and root == bytes(32)):
        raise DecodeError(f"{where}.pieces root: missing, not 32 bytes or all zero")
    return FileEntry(path, length, offset, pieces_root=root)


def _walk_tree(
    tree: Any, prefix: tuple[str, ...], state: dict[str, Any], depth: int, single_ok: bool
) -> None:
    if not isinstance(tree, dict) or depth > MAX_TREE_DEPTH:
        raise DecodeError(f"info.file tree/{'/'.join(prefix)}: not a dictionary or nested too deep")
    for key, node in tree.items():
        where = f"info.file tree/{'/'.join((*prefix, key.decode('utf-8', 'replace')))}"
        if not isinstance(node, dict) or not key:
            raise DecodeError(f"{where}: empty name or not a dictionary")
        path = (*prefix, _path_element(key.lstrip(b"/")))
        if len(node) == 1 and b"" in node:
            single = single_ok and len(tree) == 1
            entry = _v2_leaf(node[b""], where, () if single else path, state["offset"])
            state["files"].append(entry)
            state["offset"] += entry.length
            pad = -state["offset"] % state["piece_length"]
            if entry.length and pad:
                state["files"].append(FileEntry((".pad", str(pad)), pad, state["offset"], True))
                state["offset"] += pad
            continue
        _walk_tree(node, path, state, depth + 1, False)


def files_v2(
    tree: Mapping[bytes, Any], name: str, piece_length: int, has_files: bool
) -> tuple[FileEntry, ...]:
    """Extract the v2 layout from ``info.file tree``; every non-empty file starts a new piece.

    Pad entries are synthesised after every file whose end is not piece-aligned, the last one
    included (libtorrent's v2 file storage).

    Raises:
        DecodeError: a malformed node (named by its path).

    Source: BEP 52 ("file tree", "pieces root"); libtorrent ``extract_files2``.
    """
    state: dict[str, Any] = {"files": [], "offset": 0, "piece_length": piece_length}
    _walk_tree(tree, (), state, 0, not has_files)
    return tuple(state["files"])


def v2_single_file_name(tree: Mapping[bytes, Any], has_files: bool) -> str | None:
    """The path libtorrent gives the file of a single-file v2 tree: its key, not ``info.name``.

    Returns None when the tree is not the single-file shape (one leaf at the top, no ``info.files``).

    Source: libtorrent ``extract_files2`` (``single_file`` drops the root directory).
    """
    if has_files or len(tree) != 1:
        return None
    ((key, node),) = tree.items()
    if not isinstance(node, dict) or len(node) != 1 or b"" not in node:
        return None
    return _path_element(key.lstrip(b"/"))


def _without_tail_pad(files: tuple[FileEntry, ...]) -> tuple[FileEntry, ...]:
    """Drop the pad after the last non-empty file; empty files after it move down to its offset."""
    for index in range(len(files) - 1, -1, -1):
        pad = files[index]
        if pad.length == 0:
            continue
        if not pad.is_pad:
            return files
        tail = tuple(replace(f, offset=pad.offset) for f in files[index + 1 :])
        return files[:index] + tail
    return files


def layout_mismatch(
    v1: tuple[FileEntry, ...], v2: tuple[FileEntry, ...], v1_single: str, v2_single: str | None
) -> str | None:
    """Tell why a hybrid torrent's v1 file list and v2 file tree do not describe the same files.

    Both lists have the same number of entries and total size (pad files included, bytes). At each
    index, a file that is neither a pad nor empty must face such a file with the same path, length
    and offset; pads and empty files only hold places, whatever their names and attributes (``x``,
    ``h``). A v2 list one entry longer first loses its tail pad: libtorrent 2.0.0-2.0.7 made
    hybrids without one. Symlinks are empty, so their targets are never compared.

    Args:
        v1 / v2: the layouts from :func:`files_v1` and :func:`files_v2`.
        v1_single: the path of the file of a single-file v1 torrent (the sanitised ``info.name``),
            also the directory of every other path.
        v2_single: the path of the file of a single-file v2 tree (:func:`v2_single_file_name`), or None.

    Returns:
        None when they match, else what differs (file index, paths, lengths or offsets).

    Source: BEP 52 ("hybrid torrents"); libtorrent ``aux::files_compatible`` and
    ``file_storage::remove_tail_padding`` ("the v1 and v2 file metadata does not match").
    """
    if len(v2) == len(v1) + 1:
        v2 = _without_tail_pad(v2)
    if len(v1) != len(v2):
        return f"{len(v1)} files in the v1 list, {len(v2)} in the v2 file tree"
    size1, size2 = sum(f.length for f in v1), sum(f.length for f in v2)
    if size1 != size2:
        return f"{size1} bytes in the v1 list, {size2} in the v2 file tree"
    for index, (a, b) in enumerate(zip(v1, v2, strict=True)):
        seen = (_full_path(a, v1_single, v1_single), a.length, a.offset)
        other = (_full_path(b, v2_single, v1_single), b.length, b.offset)
        if _holds_data(a) != _holds_data(b) or (_holds_data(a) and seen != other):
            return f"file {index} is {_show(a, seen)} in the v1 list, {_show(b, other)} in the v2 file tree"
    return None


def _holds_data(entry: FileEntry) -> bool:
    return not entry.is_pad and entry.length > 0


def _full_path(entry: FileEntry, single: str | None, name: str) -> str:
    if not entry.path and single is not None:
        return single
    return "/".join((name, *entry.path))


def _show(entry: FileEntry, key: tuple[str, int, int]) -> str:
    if not _holds_data(entry):
        return f"{'a pad' if entry.is_pad else 'an empty file'} ({key[0]!r})"
    return f"{key[0]!r} ({key[1]} bytes at {key[2]})"


def _split_ext(path: str) -> tuple[str, str]:
    slash = path.rfind("/")
    dot = path.rfind(".")
    if dot <= slash + 1:
        return path, ""
    return path[:dot], path[dot:]


def check_duplicate_paths(files: tuple[FileEntry, ...], name: str) -> None:
    """Reject torrents whose file names collide too often (case-insensitive, with directories).

    Raises:
        DecodeError: more than :data:`MAX_COLLISIONS` renames would be needed.

    Source: libtorrent ``resolve_duplicate_filenames_slow`` ("too many duplicate filenames").
    """
    taken: dict[str, int] = {}
    full = ["/".join((name, *f.path)).lower() for f in files]
    for path in full:
        for cut in range(len(path)):
            if path[cut] == "/":
                taken.setdefault(path[:cut], -1)
    if len(set(full)) == len(full) and not any(p in taken for p in full):
        return
    collisions = 0
    for index, path in enumerate(full):
        other = taken.get(path)
        if other is None:
            taken[path] = index
            continue
        mine, theirs = files[index], files[other] if other >= 0 else None
        if theirs and mine.is_pad and theirs.is_pad and mine.length == theirs.length:
            continue
        base, ext = _split_ext(path)
        count = 0
        while True:
            count += 1
            candidate = f"{base}.{count}{ext}"
            if candidate not in taken:
                taken[candidate] = index
                break
            collisions += 1
            if collisions > MAX_COLLISIONS:
                raise DecodeError("info.files: too many duplicate file names")
