"""The work a torrent carries, derived from stored content, never from the stored check result.

``work_torrent`` rows link a work to a torrent (infohash hex: SHA-1 of the v1 info dict, BEP 3; SHA-256 of
the v2 one, BEP 52) and record the outcome of ``works link``'s piece check (``status``, ``matched_pieces``,
``checked_pieces``). Those are plain columns, not sealed: someone who can write the database file can set
a fake torrent ``confirmed``. So ``cases build`` and every accusing document (the gate,
:mod:`swarmscope.cases.case_links`) derive the work with ONE function, :func:`case_work`, which re-runs the
check from stored content, once per link and command (:class:`TorrentChecks`):

- the torrent: the metainfo stored for the swarm (``swarm.metainfo``), used only when it parses and hashes
  to the infohash (else the link is refused: the stored bytes are another torrent's);
- the work: its reference content on disk (``work.reference_path``), laid out as the torrent's files and
  hashed piece by piece against the metainfo's piece hashes (:func:`swarmscope.cases.campaigns.
  reference_check`, the check ``works link`` runs: ``confirmed`` / ``fake`` / ``linked`` when nothing could
  be compared). A reference path that no longer exists refuses the link (restore the content);
- a link whose row says ``fake`` stays fake (it can only keep a case from being built); a work without
  reference content, or a swarm without stored metainfo, gives ``linked`` (nothing checked).

Then, as before, the work is the earliest ``confirmed`` link, else the earliest ``linked`` one
(``require_confirmed``: confirmed only); no usable link is no work. When the usable links name works of
two different rights holders (clients), nothing is guessed: the torrent is refused, naming both.

Source: README "The legal workflow" (``works link``) and "Only proven evidence".
"""

from __future__ import annotations

from pathlib import Path

from swarmscope.cases.campaigns import TorrentCheck, reference_check, stored_metainfo
from swarmscope.errors import DecodeError
from swarmscope.store.database import Store
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.case_rows import WorkRow, WorkTorrentRow


class TorrentChecks:
    """Re-checks work/torrent links from stored content, each link at most once per command."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._links: dict[tuple[int, str], TorrentCheck | str] = {}
        self._works: dict[tuple[str, bool], WorkRow | str] = {}

    def check(self, link: WorkTorrentRow) -> TorrentCheck | str:
        """The link's check re-run from stored content, or why it cannot be run (refuse the torrent)."""
        key = (link.work_id, link.infohash)
        if key not in self._links:
            self._links[key] = self._run(link)
        return self._links[key]

    def _run(self, link: WorkTorrentRow) -> TorrentCheck | str:
        if link.status == "fake":
            return TorrentCheck("fake", link.checked_pieces, link.matched_pieces, link.detail)
        work = case_rows.get_work(self.store, link.work_id)
        if work.reference_path is None:
            return TorrentCheck("linked", 0, 0, "the work has no reference content")
        try:
            meta = stored_metainfo(self.store, link.infohash)[1]
        except DecodeError as exc:
            return f"the metainfo stored for torrent {link.infohash} does not parse ({exc})"
        if meta is None:
            return TorrentCheck("linked", 0, 0, "no metainfo stored for this infohash")
        if link.infohash not in {h.hex for h in (meta.v1, meta.v2) if h is not None}:
            return f"the metainfo stored for torrent {link.infohash} does not hash to it"
        if not Path(work.reference_path).exists():
            return (
                f"the reference content {work.reference_path} of work {work.id} is gone: restore it there "
                f"(the check that torrent {link.infohash} carries the work reads it)"
            )
        return reference_check(meta, Path(work.reference_path))

    def work(self, infohash: str, *, require_confirmed: bool = False) -> WorkRow | str:
        """:func:`case_work`, cached per (infohash, require_confirmed)."""
        key = (infohash.lower(), require_confirmed)
        if key not in self._works:
            self._works[key] = _derive(self, key[0], require_confirmed)
        return self._works[key]


def case_work(
    store: Store, infohash: str, checks: TorrentChecks | None = None, *, require_confirmed: bool = False
) -> WorkRow | str:
    """The work a case of swarm ``infohash`` is for, or why there is none (one line; rule above).

    The reasons start with ``no_work:``, ``fake_torrent:``, ``unconfirmed:``, ``unchecked:`` (a check
    that cannot be run) or ``two_rights_holders:``.
    """
    return (checks or TorrentChecks(store)).work(infohash, require_confirmed=require_confirmed)


def _derive(checks: TorrentChecks, infohash: str, require_confirmed: bool) -> WorkRow | str:
    links = case_rows.work_torrents(checks.store, infohash=infohash)
    if not links:
        return "no_work: the torrent is linked to no work (swarmscope works link)"
    judged = [(t, checks.check(t)) for t in links]
    cannot = [why for _, why in judged if isinstance(why, str)]
    if cannot:
        return f"unchecked: {'; '.join(cannot)}"
    found = [(t, c) for t, c in judged if isinstance(c, TorrentCheck)]
    wanted = {"confirmed"} if require_confirmed else {"confirmed", "linked"}
    usable = [(t, c) for t, c in found if c.status in wanted]
    if not usable:
        return _unusable(found, infohash)
    works = {t.work_id: case_rows.get_work(checks.store, t.work_id) for t, _ in usable}
    if len({w.client_id for w in works.values()}) > 1:
        named = " and ".join(f"work {w.id} of {w.client}" for w in works.values())
        return f"two_rights_holders: torrent {infohash} is linked to {named}: link it to one only"
    usable.sort(key=lambda tc: (tc[1].status != "confirmed", tc[0].id))
    return works[usable[0][0].work_id]


def _unusable(found: list[tuple[WorkTorrentRow, TorrentCheck]], infohash: str) -> str:
    fakes = [(t, c) for t, c in found if c.status == "fake"]
    if len(fakes) == len(found):
        named = "; ".join(
            f"work {t.work_id}: {c.matched} of {c.checked} checked piece(s) match" for t, c in fakes
        )
        return (
            f"fake_torrent: the pieces of torrent {infohash} do not match the work's reference content "
            f"({named})"
        )
    return "unconfirmed: the torrent is not confirmed against the work's reference content"
