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
- the link itself: the row (work, infohash, verdict, pieces compared and matched) must be the NEWEST
  ``work_link`` event sealed for it under a trusted key (:mod:`swarmscope.store.legal.workflow_seals`);
  a row inserted, or a verdict rewritten (``fake`` made ``linked``), without the node key refuses the
  torrent (``unchecked:``), naming the link;
- a link whose sealed verdict is ``fake`` stays fake (it can only keep a case from being built); a work
  without reference content gives ``linked`` (the operator's sealed link, nothing to compare);
- a work WITH reference content whose check compares no piece (the reference too small for any whole
  piece, not laid out as the torrent's files, or no metainfo stored for the swarm) is ``unverified``: it
  proves nothing about what the torrent carries, so it names no work (``unverified:``) and ``works link``
  says so; a sealed ``confirmed`` verdict whose metainfo is gone cannot be re-run and refuses the torrent.

Then, as before, the work is the earliest ``confirmed`` link, else the earliest ``linked`` one
(``require_confirmed``: confirmed only); no usable link is no work. When the usable links name works of
two different rights holders (clients), nothing is guessed: the torrent is refused, naming both.

A reason is a :class:`~swarmscope.cases.refusals.Refusal`: every clause about one work (its link, its
check, its reference content) is a part that names the work and its rights holder, so a reader bound to
another client is shown neither (each front end renders it for its reader).

Source: README "The legal workflow" (``works link``) and "Only proven evidence".
"""

from __future__ import annotations

from pathlib import Path

from swarmscope.cases.campaigns import TorrentCheck, reference_check, stored_metainfo
from swarmscope.cases.refusals import AboutWork, Refusal, WorkNamed, WorksOf
from swarmscope.errors import DecodeError
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, store_trust
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.case_rows import WorkRow, WorkTorrentRow
from swarmscope.store.legal.workflow_seals import (
    WORK_LINK,
    WorkflowHistory,
    content_sha256,
    link_content,
    link_subject,
    workflow_history,
)

UNVERIFIED = "unverified"  # a check with reference content that compared no piece: proves nothing
HIDDEN_LINK = "a link of this torrent to a work of another rights holder"


def about_work(work: WorkRow, text: str, hidden: str = HIDDEN_LINK) -> AboutWork:
    """``text`` about ``work``: a reader bound to another client reads ``hidden`` instead."""
    return AboutWork(WorkNamed(work.id, work.client_id, work.client), text, hidden)


class TorrentChecks:
    """Re-checks work/torrent links from stored content, each link at most once per command.

    ``trust``: the keys whose sealed ``work_link`` events count (None: the store's own node key).
    """

    def __init__(self, store: Store, trust: EvidenceTrust | None = None) -> None:
        self.store, self._trust = store, trust
        self._history: WorkflowHistory | None = None
        self._links: dict[tuple[int, str], TorrentCheck | AboutWork] = {}
        self._works: dict[tuple[str, bool], WorkRow | Refusal] = {}

    def about(self, work: WorkRow | int, text: str) -> AboutWork:
        """``text`` about ``work`` (a row or its id), hidden from readers bound to another client."""
        return about_work(case_rows.get_work(self.store, work) if isinstance(work, int) else work, text)

    def _sealed_problem(self, link: WorkTorrentRow) -> AboutWork | None:
        """Why the link row is not the newest ``work_link`` sealed for it (None: it is)."""
        if self._history is None:
            self._history = workflow_history(self.store, store_trust(self.store, self._trust))
        subject = link_subject(link.work_id, link.infohash)
        incomplete = self._history.refusal(subject)
        if incomplete is not None:  # a hidden newer verdict (fake) may supersede the row's
            return self.about(link.work_id, incomplete)
        latest = self._history.latest(subject, WORK_LINK)
        content = link_content(
            link.work_id, link.infohash, link.status, link.checked_pieces, link.matched_pieces
        )
        if latest is not None and latest.event.sha256 == content_sha256(WORK_LINK, content):
            return None
        why = "no sealed link" if latest is None else "its verdict differs from the one sealed"
        return self.about(
            link.work_id,
            f"the link of work {link.work_id} to torrent {link.infohash} ({link.status}, "
            f"{link.matched_pieces}/{link.checked_pieces} pieces) is not sealed by a trusted node key "
            f"({why}: added or altered without the key; link it again with `swarmscope works link`)",
        )

    def check(self, link: WorkTorrentRow) -> TorrentCheck | AboutWork:
        """The link's check re-run from stored content, or why it cannot be run (refuse the torrent)."""
        key = (link.work_id, link.infohash)
        if key not in self._links:
            self._links[key] = self._run(link)
        return self._links[key]

    def _run(self, link: WorkTorrentRow) -> TorrentCheck | AboutWork:
        """A fake outcome stands whatever the seal (it only keeps a case from being built); any other
        needs the row to be the link's sealed verdict."""
        check = self._recheck(link)
        if isinstance(check, TorrentCheck) and check.status == "fake":
            return check
        return self._sealed_problem(link) or check

    def _recheck(self, link: WorkTorrentRow) -> TorrentCheck | AboutWork:
        if link.status == "fake":
            return TorrentCheck("fake", link.checked_pieces, link.matched_pieces, link.detail)
        work = case_rows.get_work(self.store, link.work_id)
        if work.reference_path is None:
            return TorrentCheck("linked", 0, 0, "the work has no reference content")
        try:
            meta = stored_metainfo(self.store, link.infohash)[1]
        except DecodeError as exc:
            return self.about(work, f"the metainfo stored for torrent {link.infohash} does not parse ({exc})")
        if meta is None and link.checked_pieces:
            return self.about(
                work,
                f"no metainfo is stored for torrent {link.infohash}: its sealed check of work {work.id} "
                "cannot be re-run (store the .torrent again with `swarmscope works link`)",
            )
        if meta is None:
            return TorrentCheck(UNVERIFIED, 0, 0, "no metainfo stored for this infohash")
        if link.infohash not in {h.hex for h in (meta.v1, meta.v2) if h is not None}:
            return self.about(work, f"the metainfo stored for torrent {link.infohash} does not hash to it")
        if not Path(work.reference_path).exists():
            return self.about(
                work,
                f"the reference content {work.reference_path} of work {work.id} is gone: restore it there "
                f"(the check that torrent {link.infohash} carries the work reads it)",
            )
        check = reference_check(meta, Path(work.reference_path))
        return TorrentCheck(UNVERIFIED, 0, 0, check.detail) if check.checked == 0 else check

    def work(self, infohash: str, *, require_confirmed: bool = False) -> WorkRow | Refusal:
        """:func:`case_work`, cached per (infohash, require_confirmed)."""
        key = (infohash.lower(), require_confirmed)
        if key not in self._works:
            self._works[key] = _derive(self, key[0], require_confirmed)
        return self._works[key]


def case_work(
    store: Store, infohash: str, checks: TorrentChecks | None = None, *, require_confirmed: bool = False
) -> WorkRow | Refusal:
    """The work a case of swarm ``infohash`` is for, or why there is none (one line once rendered; rule
    above; the works it names are parts a front end renders for its reader).

    The reasons start with ``no_work:``, ``fake_torrent:``, ``unverified:`` (no piece compared with the
    reference content), ``unconfirmed:``, ``unchecked:`` (a check that cannot be run, or a link not
    sealed) or ``two_rights_holders:``.
    """
    return (checks or TorrentChecks(store)).work(infohash, require_confirmed=require_confirmed)


def _derive(checks: TorrentChecks, infohash: str, require_confirmed: bool) -> WorkRow | Refusal:
    links = case_rows.work_torrents(checks.store, infohash=infohash)
    if not links:
        return Refusal.of("no_work: the torrent is linked to no work (swarmscope works link)")
    judged = [(t, checks.check(t)) for t in links]
    cannot = [why for _, why in judged if isinstance(why, AboutWork)]
    if cannot:
        return Refusal.of("unchecked: ", Refusal.joined(cannot))
    found = [(t, c) for t, c in judged if isinstance(c, TorrentCheck)]
    wanted = {"confirmed"} if require_confirmed else {"confirmed", "linked"}
    usable = [(t, c) for t, c in found if c.status in wanted]
    if not usable:
        return _unusable(checks, found, infohash)
    works = {t.work_id: case_rows.get_work(checks.store, t.work_id) for t, _ in usable}
    if len({w.client_id for w in works.values()}) > 1:
        named = WorksOf(tuple(WorkNamed(w.id, w.client_id, w.client) for w in works.values()))
        linked = f"two_rights_holders: torrent {infohash} is linked to "
        return Refusal.of(linked, named, ": link it to one only")
    usable.sort(key=lambda tc: (tc[1].status != "confirmed", tc[0].id))
    return works[usable[0][0].work_id]


def _unusable(
    checks: TorrentChecks, found: list[tuple[WorkTorrentRow, TorrentCheck]], infohash: str
) -> Refusal:
    fakes = [(t, c) for t, c in found if c.status == "fake"]
    if len(fakes) == len(found):
        named = Refusal.joined(
            checks.about(t.work_id, f"work {t.work_id}: {c.matched} of {c.checked} checked piece(s) match")
            for t, c in fakes
        )
        return Refusal.of(
            f"fake_torrent: the pieces of torrent {infohash} do not match the work's reference content (",
            named,
            ")",
        )
    unverified = [(t, c) for t, c in found if c.status == UNVERIFIED]
    if unverified and all(c.status in ("fake", UNVERIFIED) for _t, c in found):
        clauses = (checks.about(t.work_id, f"work {t.work_id}: {c.detail}") for t, c in unverified)
        named = Refusal.joined(clauses)
        return Refusal.of(
            f"unverified: no piece of torrent {infohash} could be compared with the work's reference "
            "content (",
            named,
            "): a link that compares no piece proves nothing",
        )
    return Refusal.of("unconfirmed: the torrent is not confirmed against the work's reference content")
