"""Do a stored case's work, ISP and region/city still follow from proven inputs, as ``cases build`` set?

``legal_case.work_id``, ``isp_id``, ``region`` and ``city`` are plain columns, not sealed: an edit moves a
case to another rights holder's or another ISP's exhibit, notice or letter. :func:`link_problem`
re-derives them as the build does (:mod:`swarmscope.cases.candidates`) and, when they disagree, says so
in one line naming each column with its stored and its proven value. The document gate
(:mod:`swarmscope.cases.case_proof`) refuses such a case. It disagrees when:

- ``work_id``: not the work ``cases build`` derives for the case's infohash, by the same function
  (:func:`swarmscope.cases.work_links.case_work`: the earliest link re-checked ``confirmed`` from stored
  content, else the earliest plain one; links of two rights holders, a fake torrent or a check that cannot
  be run give no work and refuse the case with that reason); the link's infohash is the torrent's swarm
  id (SHA-1 of the v1 info dict, BEP 3; SHA-256 of the v2 one, BEP 52), and a document names the torrent
  only from stored metainfo hashing to it (:func:`swarmscope.store.legal.notices.sealed_torrent`);
- ``isp_id``: not the directory ISP whose ASN list holds the ASN of the proven attribution in force at
  the case's first hit (the latest sealed attribution of its address observed at or before it, as made
  with the IP dataset versions it names; none, or no ASN, or no directory ISP for it: no ISP);
- ``region``, ``city``: not those of the same proven attribution (advisory, but a document states them);
- the derived ISP's or work's directory entry, as stored now (a work's reference copy on disk included),
  is not the newest one the node sealed (:class:`swarmscope.cases.directory_proof.DirectoryProof`): an
  edited directory would otherwise reroute a notice or make a fake torrent's link accuse.

Source: README "Only proven evidence"; the attribution is proven by :func:`swarmscope.store.
proven_records.proven_attributions`.
"""

from __future__ import annotations

from swarmscope.cases.candidates import attribution_at
from swarmscope.cases.directory_proof import DirectoryProof
from swarmscope.cases.refusals import Refusal
from swarmscope.cases.work_links import TorrentChecks, about_work, case_work
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven_records import AttributionRow, ProvenAttributions
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.case_rows import CaseRow


def link_problem(
    store: Store,
    row: CaseRow,
    attributions: ProvenAttributions,
    checks: TorrentChecks | None,
    directory: DirectoryProof,
) -> Refusal | None:
    """Why ``row``'s work, ISP, region or city do not follow from the proven inputs (None: they do).

    The answer is one line: ``<column> <stored value> ...`` and the proven value, per differing column,
    joined by ``"; "``. ``checks``: the command's torrent checks (None: a fresh one, nothing cached).
    ``directory``: the command's check of directory entries against their sealed ones.
    """
    work = _work_problem(store, row, checks, directory)
    reasons = [r for r in (work, *_place_problems(store, row, attributions, directory)) if r]
    return Refusal.joined(reasons) if reasons else None


def _work_problem(
    store: Store, row: CaseRow, checks: TorrentChecks | None, directory: DirectoryProof
) -> Refusal | None:
    """``work_id`` is not the work ``cases build`` derives for the case's torrent, or its entry is not the
    sealed one (the works it names are parts a front end renders for its reader)."""
    work = case_work(store, row.infohash, checks)
    if isinstance(work, Refusal):
        return Refusal.of(f"work_id {row.work_id}: its torrent {row.infohash} has no work (", work, ")")
    if work.id == row.work_id:
        why = directory.work_problem(work)
        hidden = "its work's entry is not the sealed one"
        return None if why is None else Refusal.of(about_work(work, why, hidden))
    derived = about_work(
        work,
        f"work {work.id} of {work.client}: its earliest confirmed link, else its earliest plain one, as "
        "cases build derives it",
        "a work of another rights holder",
    )
    return Refusal.of(f"work_id {row.work_id} is not the work of its torrent {row.infohash} (", derived, ")")


def _place_problems(
    store: Store, row: CaseRow, attributions: ProvenAttributions, directory: DirectoryProof
) -> list[str]:
    """``isp_id``, ``region``, ``city`` against the proven attribution at the first hit; the ISP's entry
    against its sealed one."""
    first: AttributionRow | None = attribution_at(attributions.by_ip.get(row.ip, []), row.first_hit_us)
    asn = first.asn if first else None
    isp = case_rows.isp_for_asn(store, asn) if asn is not None else None
    reasons = [why for why in [directory.isp_problem(isp) if isp else None] if why]
    if (isp.id if isp else None) != row.isp_id:
        reasons.append(
            f"isp_id {row.isp_id} is not the ISP of the proven attribution's ASN {asn} at the first hit "
            f"(isp_id {isp.id if isp else None})"
        )
    region, city = (first.region, first.city) if first else (None, None)
    if (region, city) != (row.region, row.city):
        reasons.append(
            f"region/city {row.region}/{row.city} are not the proven attribution's {region}/{city}"
        )
    return reasons
