"""Do a stored case's work, ISP and region/city still follow from proven inputs, as ``cases build`` set?

``legal_case.work_id``, ``isp_id``, ``region`` and ``city`` are plain columns, not sealed: an edit moves a
case to another rights holder's or another ISP's exhibit. :func:`link_problem` re-derives them as the
build does (:mod:`swarmscope.cases.candidates`) and says why, naming the field, when they disagree (the
document gate, :mod:`swarmscope.cases.case_proof`, does not apply it yet: cases planted by test fixtures
carry ISPs and places no proven attribution backs). It disagrees when:

- work: the case's work must be linked (``linked`` or ``confirmed``, never ``fake``) to the case's
  infohash in the work/torrent links;
- ISP: the directory ISP whose ASN list holds the ASN of the proven attribution at the first hit (none:
  no ISP);
- region, city: those of the same proven attribution (advisory, but a document states them).

Source: README "Only proven evidence"; the attribution is proven by :func:`swarmscope.store.
proven_records.proven_attributions`.
"""

from __future__ import annotations

from swarmscope.cases.candidates import attribution_at
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven_records import ProvenAttributions
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.case_rows import CaseRow

USABLE_LINKS = frozenset({"linked", "confirmed"})


def link_problem(store: Store, row: CaseRow, attributions: ProvenAttributions) -> str | None:
    """Why ``row``'s work, ISP, region or city do not follow from the proven inputs (None: they do)."""
    reasons: list[str] = []
    links = (
        []
        if row.work_id is None
        else case_rows.work_torrents(store, work_id=row.work_id, infohash=row.infohash)
    )
    if not any(t.status in USABLE_LINKS for t in links):
        reasons.append(f"its work {row.work_id} is not linked to its torrent {row.infohash}")
    first = attribution_at(attributions.by_ip.get(row.ip, []), row.first_hit_us)
    isp = case_rows.isp_for_asn(store, first.asn) if first and first.asn is not None else None
    if (isp.id if isp else None) != row.isp_id:
        asn = first.asn if first else None
        reasons.append(f"its ISP {row.isp_id} is not the ISP of the proven attribution's ASN {asn}")
    region, city = (first.region, first.city) if first else (None, None)
    if (region, city) != (row.region, row.city):
        reasons.append(
            f"its region/city {row.region}/{row.city} are not the proven attribution's {region}/{city}"
        )
    return "; ".join(reasons) or None
