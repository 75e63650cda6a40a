"""A case's port, work and the torrent check behind it are plain rows: edited behind the ledger's back
(write access to the database, triggers dropped, no node key) they must reach no exhibit or notice, each
refusal names what differs, and the honest cases in the same database still get their documents.
SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, MIN, T0, attributed, hit, seal
from tests.cases.test_tampered_clock import tamper
from tests.pg_server import backend_url, drop_schema

KEY = Ed25519PrivateKey.generate()
HONEST, PORT_EDIT = "127.0.0.2", "127.0.0.3"
NOW = T0 + 10**12 + MIN  # after the helper's seal time
SENDER = Complainant("Rights Ltd", "notices@rights.test")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Two addresses with three verified hits each on port 6881, attributed to AS64500; the torrent linked."""
    url = backend_url(request.param, tmp_path)
    s = open_store(url, node_key=KEY, now_us=T0)
    try:
        ips = (HONEST, PORT_EDIT)
        hits = [hit(ip, m) for ip in ips for m in (0, 30, 70)]
        seal(s, [*(attributed(ip, -5, 64500) for ip in ips), *hits])
        sc.link_torrent(s, sc.add_work(s, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        yield s
    finally:
        s.close()
        if request.param == "postgresql":
            drop_schema(url)


def trust() -> EvidenceTrust:
    return EvidenceTrust(frozenset({key_fingerprint(public_key_raw(KEY))}), NOW)


def documents(store: Store, out: Path) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(DOE numbers on exhibit lines, exhibit refusals, DOE numbers of ACNS notices)."""
    refused: list[tuple[str, str]] = []
    written = produce_exhibits(store, out / "ex", actor="counsel", now_us=NOW, trust=trust(), refused=refused)
    lines = [line[0] for w in written for line in w.exhibit.lines]
    batch = prepare_notices(store, out / "notices", now_us=NOW, complainant=SENDER, trust=trust())
    assert sorted(batch.skipped) == sorted(refused)
    return lines, refused, [n.doc.doe for n in batch.notices]


def test_a_port_never_observed_reaches_no_exhibit_or_notice(store: Store, tmp_path: Path) -> None:
    """The address's hits are all on 6881; its case row says 1234: the hits of another port never count
    for a case (no pooling across ports: carrier-grade NAT), and the refusal names both ports."""
    does = {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}
    assert set(does) == {HONEST, PORT_EDIT}
    tamper(store, f"UPDATE legal_case SET port = 1234 WHERE doe = '{does[PORT_EDIT]}'")
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == [does[HONEST]]
    ((doe, why),) = refused
    assert doe == does[PORT_EDIT]
    assert why == (
        f"{doe}: refused: the proven evidence shows 0 verified hit(s) from {PORT_EDIT}:1234 in its "
        "interval, not the 3 the case states (its rows changed since it was built); the address's proven "
        "hits in it are on port(s) 6881: a case's port must be the port of its proven hits"
    )
