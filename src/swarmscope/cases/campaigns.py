"""Campaigns: works of a rights holder and the torrents that carry them.

**Confirming a torrent.** The work's reference content is read in the torrent's own piece layout
(:func:`swarmscope.reference.iter_reference_pieces`, not strict: :func:`reference_check`) and
every piece is hashed against the torrent's piece hashes (v1 SHA-1 / v2 merkle, BEP 3 / BEP 52):

- a piece is *checked* when the reference holds its bytes and the metainfo a hash for it (missing files
  and unhashed pieces are not checked);
- ``confirmed``: at least one checked piece matches and none mismatches — the torrent's hashes, which
  the swarm's verified pieces were checked against, are hashes of the work;
- ``fake``: at least one checked piece mismatches;
- ``linked``: nothing could be checked — no reference content, no metainfo known for the infohash (give
  the .torrent file), or the reference cannot be laid out as the torrent's files (e.g. a multi-file
  torrent none of whose file names is in the reference folder). Names alone prove nothing either way.

Any mismatch makes a torrent ``fake`` even if other pieces match: a torrent that carries the work only in
part is not evidence of distributing *this* work's pieces in general, and the detail names the pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from swarmscope.errors import DecodeError, InputError
from swarmscope.reference import PieceStatus, iter_reference_pieces
from swarmscope.store.database import Store
from swarmscope.store.ledger.queries import swarm_rows
from swarmscope.store.legal import case_rows
from swarmscope.store.legal import cases as legal_cases
from swarmscope.wire.metainfo import Metainfo, parse_metainfo

_MAX_TORRENT = 64 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class TorrentCheck:
    """Outcome of comparing a torrent against reference content.

    Args:
        status: ``linked`` | ``confirmed`` | ``fake``. checked: pieces compared. matched: pieces that
            matched. detail: what was found (mismatched piece indices, why nothing was checked).
    """

    status: str
    checked: int
    matched: int
    detail: str | None


PieceOutcome = tuple[int, bool | None]  # (piece index, True matched / False differs / None not compared)
ReferenceCheck = Callable[[Metainfo, Path], "TorrentCheck"]  # (torrent, reference path) -> check


def tally(outcomes: Iterable[PieceOutcome], num_pieces: int) -> TorrentCheck:
    """Turn per-piece comparisons into a :class:`TorrentCheck` (rule in the module docstring).

    Args:
        outcomes: (index, True when the reference piece hashes to the torrent's piece hash, False when it
            does not, None when it could not be compared). num_pieces: pieces in the torrent.

    Source: README "The legal workflow" (``works link``: confirmed only when verified pieces match); BEP 3
    (pieces), BEP 52 (v2 piece layers).
    """
    matched, mismatched = 0, []
    for index, outcome in outcomes:
        if outcome is True:
            matched += 1
        elif outcome is False:
            mismatched.append(index)
    checked = matched + len(mismatched)
    if mismatched:
        shown = ", ".join(map(str, mismatched[:10])) + (" ..." if len(mismatched) > 10 else "")
        return TorrentCheck("fake", checked, matched, f"{len(mismatched)} piece(s) differ: {shown}")
    if matched:
        return TorrentCheck("confirmed", checked, matched, f"{matched} of {num_pieces} pieces match")
    return TorrentCheck("linked", 0, 0, "no piece of the torrent could be compared with the reference")


_OUTCOME = {PieceStatus.VERIFIED: True, PieceStatus.MISMATCHED: False}


def reference_check(meta: Metainfo, reference: Path) -> TorrentCheck:
    """Compare a torrent's piece hashes with the reference content laid out as its files.

    Missing or short files and unhashed pieces are not compared (``iter_reference_pieces`` not strict);
    a reference that cannot be laid out as the torrent's files compares nothing (status ``linked``).
    ``works link`` and the document gate (:mod:`swarmscope.cases.work_links`) run this one check.

    Source: README "The legal workflow"; rule in the module docstring.
    """
    if not reference.exists():
        return TorrentCheck("linked", 0, 0, f"reference content {reference} not found")
    outcomes: list[PieceOutcome] = []
    try:
        for piece in iter_reference_pieces(meta, reference, strict=False):
            outcomes.append((piece.index, _OUTCOME.get(piece.status)))
    except InputError as exc:
        return TorrentCheck("linked", 0, 0, f"reference content does not fit the torrent's files: {exc}")
    return tally(outcomes, meta.num_pieces)


def read_torrent(path: Path) -> Metainfo:
    """Parse a .torrent file. Raises InputError naming the file and the problem."""
    try:
        if path.stat().st_size > _MAX_TORRENT:
            raise InputError(f"{path}: larger than {_MAX_TORRENT} bytes; not a torrent file")
        return parse_metainfo(path.read_bytes())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except DecodeError as exc:
        raise InputError(f"{path}: not a valid torrent: {exc}") from exc


def stored_metainfo(store: Store, infohash: str) -> tuple[str, Metainfo | None]:
    """The swarm id the store uses for ``infohash`` (v1 or v2 hex) and its stored metainfo, if any."""
    wanted = infohash.lower()
    for row in swarm_rows(store):
        if wanted in (row.infohash, row.v1, row.v2):
            meta = parse_metainfo(row.metainfo) if row.metainfo else None
            return row.infohash, meta
    return wanted, None


def resolve_torrent(store: Store, torrent: str) -> tuple[str, Metainfo | None]:
    """``--torrent``: a .torrent file, or an infohash (40 or 64 hex digits) whose metainfo the store has.

    Returns:
        (swarm id hex, metainfo or None).

    Raises:
        InputError: neither an existing file nor an infohash.
    """
    path = Path(torrent)
    if path.is_file():
        meta = read_torrent(path)
        return stored_metainfo(store, meta.swarm_id.hex)[0], meta
    text = torrent.lower()
    if len(text) in (40, 64) and set(text) <= _HEX:
        try:
            return stored_metainfo(store, text)
        except DecodeError as exc:
            raise InputError(f"{torrent}: the stored metainfo does not parse: {exc}") from exc
    raise InputError(f"--torrent {torrent!r}: neither a .torrent file nor 40/64 hex digits of an infohash")


def link_work(
    store: Store, work: int | str, torrent: str, now_us: int, *, compare: ReferenceCheck | None = None
) -> case_rows.WorkTorrentRow:
    """Link a torrent to a work and check it against the work's reference content when there is one.

    Args:
        work: work id or title. torrent: see :func:`resolve_torrent`. now_us: UTC microseconds.
        compare: reads the reference in the torrent's layout and tallies it (default
            :func:`reference_check`; a test may pass another).

    Returns:
        The link row after the check (re-linking re-checks).

    Raises:
        InputError: bad ``torrent``. CaseStoreError: unknown work.
    """
    row = legal_cases.get_work(store, work)
    infohash, meta = resolve_torrent(store, torrent)
    link_id = legal_cases.link_torrent(store, row.id, infohash, now_us)
    if row.reference_path is None:
        check = TorrentCheck("linked", 0, 0, "the work has no reference content")
    elif meta is None:
        check = TorrentCheck("linked", 0, 0, "no metainfo known for this infohash (give the .torrent file)")
    else:
        check = (compare or reference_check)(meta, Path(row.reference_path))
    legal_cases.set_torrent_check(
        store, link_id, check.status, check.checked, check.matched, check.detail, now_us
    )
    (linked,) = [t for t in legal_cases.work_torrents(store, work_id=row.id) if t.id == link_id]
    return linked
