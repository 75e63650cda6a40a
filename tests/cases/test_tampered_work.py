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
from swarmscope.cases.campaigns import link_work
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from swarmscope.testbed.content import TorrentContent, build_content
from tests.cases.evidence import IH, MIN, T0, attributed, hit, seal
from tests.cases.test_tampered_clock import tamper
from tests.pg_server import backend_url, drop_schema

KEY = Ed25519PrivateKey.generate()
HONEST, PORT_EDIT = "127.0.0.2", "127.0.0.3"
NOW = T0 + 10**12 + MIN  # after the helper's seal time
SENDER = Complainant("Rights Ltd", "notices@rights.test")
PIECE = 16384


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


def test_a_case_moved_to_another_linked_work_is_refused(store: Store, tmp_path: Path) -> None:
    """Two works of one rights holder linked to the torrent: the build takes the earliest; a case row moved
    to the other (also linked) work is refused, naming the work the build derives."""
    film = sc.get_work(store, "Film").id
    cut = sc.add_work(store, "Rights Ltd", "Film (director's cut)", None, None, T0)
    sc.link_torrent(store, cut, IH, T0)
    does = {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}
    assert {case_status.get_case(store, d).work_id for d in does.values()} == {film}
    tamper(store, f"UPDATE legal_case SET work_id = {cut} WHERE doe = '{does[PORT_EDIT]}'")
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == [does[HONEST]]
    ((doe, why),) = refused
    assert doe == does[PORT_EDIT] and why.endswith(
        f"(work_id {cut} is not the work of its torrent {IH} (work {film} of Rights Ltd: its earliest "
        "confirmed link, else its earliest plain one, as cases build derives it))"
    )


def test_a_torrent_linked_to_two_rights_holders_accuses_nobody(store: Store, tmp_path: Path) -> None:
    """Another rights holder's work linked to the same torrent: which one the torrent carries is not
    guessed; every document refuses its cases naming both works, and a build makes none."""
    does = {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}
    other = sc.add_work(store, "Other Ltd", "Film B", None, None, T0)
    sc.link_torrent(store, other, IH, T0)
    film = sc.get_work(store, "Film").id
    both = f"work {film} of Rights Ltd and work {other} of Other Ltd"
    lines, refused, notices = documents(store, tmp_path)
    assert lines == notices == []
    assert sorted(d for d, _ in refused) == sorted(does.values())
    assert all(
        f"two_rights_holders: torrent {IH} is linked to {both}: link it to one only" in w for _, w in refused
    )
    report = build_cases(store, ThresholdPolicy(), NOW + 1, trust=trust())
    assert report.created == [] and {why.split(":")[0] for _, why in report.skipped} == {"two_rights_holders"}


@pytest.fixture(scope="module")
def contents(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorrentContent, TorrentContent]:
    """The work's torrent (6 pieces of 16 KiB) and different content of the same size (a fake's)."""
    base = tmp_path_factory.mktemp("works")
    real = build_content(base / "real", size=5 * PIECE + 100, piece_length=PIECE, seed=b"the work")
    other = build_content(base / "other", size=5 * PIECE + 100, piece_length=PIECE, seed=b"something else")
    return real, other


@pytest.fixture(params=["sqlite", "postgresql"])
def torrent_store(
    request: pytest.FixtureRequest, tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]
) -> Iterator[Store]:
    """The real torrent's swarm with its metainfo stored (as the monitor stores it); two addresses with
    three verified hits each in it; no work yet."""
    real, _ = contents
    url = backend_url(request.param, tmp_path)
    s = open_store(url, node_key=KEY, now_us=T0)
    try:
        ih = real.infohash_hex
        meta = real.torrent_path.read_bytes()
        s.add_swarm(ih, ih, None, real.name, real.num_pieces, PIECE, real.size, meta, None, T0)
        hits = [hit(ip, m, infohash=ih) for ip in (HONEST, PORT_EDIT) for m in (0, 30, 70)]
        seal(s, [*(attributed(ip, -5, 64500) for ip in (HONEST, PORT_EDIT)), *hits], swarms=())
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        yield s
    finally:
        s.close()
        if request.param == "postgresql":
            drop_schema(url)


def copy_of(content: TorrentContent, where: Path) -> Path:
    """A copy of ``content``'s payload at ``where`` (a reference file the test may damage or remove)."""
    where.write_bytes((content.data_dir / content.name).read_bytes())
    return where


def test_a_fake_torrent_set_confirmed_makes_no_case(
    torrent_store: Store, tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]
) -> None:
    """The work's reference content is not the torrent's: ``works link`` says fake. The stored check result
    edited to ``confirmed`` changes nothing: the build re-checks from the stored metainfo and the
    reference, and names the work, the torrent and the counts."""
    real, other = contents
    store, ih = torrent_store, real.infohash_hex
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(copy_of(other, tmp_path / "wrong.bin")), T0)
    assert link_work(store, work, ih, T0).status == "fake"
    fake = f"fake_torrent: the pieces of torrent {ih} do not match the work's reference content"
    counts = f"(work {work}: 0 of 6 checked piece(s) match)"
    tamper(store, "UPDATE work_torrent SET status = 'confirmed', matched_pieces = checked_pieces")
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    assert report.created == [] and [why for _, why in report.skipped] == [f"{fake} {counts}"] * 2


def test_a_case_whose_work_no_longer_matches_its_torrent_is_refused(
    torrent_store: Store, tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]
) -> None:
    """Built on a confirmed link; then the work row is pointed at other content (the link row still says
    confirmed): every document re-checks and refuses, naming work, torrent and counts."""
    real, other = contents
    store, ih = torrent_store, real.infohash_hex
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(copy_of(real, tmp_path / "film.bin")), T0)
    assert link_work(store, work, ih, T0).status == "confirmed"
    does = {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}
    assert set(does) == {HONEST, PORT_EDIT}
    assert documents(store, tmp_path / "honest")[0] == sorted(does.values())
    wrong = copy_of(other, tmp_path / "wrong.bin")
    tamper(store, f"UPDATE work SET reference_path = '{wrong}'")
    lines, refused, notices = documents(store, tmp_path / "edited")
    assert lines == notices == []
    fake = f"fake_torrent: the pieces of torrent {ih} do not match the work's reference content"
    for _, why in refused:
        assert why.endswith(f"(work_id {work}: its torrent {ih} has no work ({fake} (work {work}: 0 of 6 "
                            "checked piece(s) match)))"), why  # fmt: skip
    assert sorted(d for d, _ in refused) == sorted(does.values())


def test_a_missing_reference_refuses_clearly(
    torrent_store: Store, tmp_path: Path, contents: tuple[TorrentContent, TorrentContent]
) -> None:
    """The reference content the check needs is gone: refused, saying where to restore it; restored, the
    cases get their documents again."""
    real, _ = contents
    store, ih = torrent_store, real.infohash_hex
    path = copy_of(real, tmp_path / "film.bin")
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(path), T0)
    assert link_work(store, work, ih, T0).status == "confirmed"
    does = sorted(c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created)
    path.unlink()
    lines, refused, _ = documents(store, tmp_path / "gone")
    assert lines == [] and sorted(d for d, _ in refused) == does
    gone = f"unchecked: the reference content {path} of work {work} is gone: restore it there"
    assert all(gone in why for _, why in refused), refused
    copy_of(real, path)
    assert documents(store, tmp_path / "back")[0] == does


def test_a_rerouted_isp_directory_reaches_no_notice(store: Store, tmp_path: Path) -> None:
    """The ISP directory is plain rows: the two ISPs' ASN lists swapped and a case's ``isp_id`` moved would
    send its notice to the other ISP's abuse address. Each entry was sealed by ``isps add``, so every
    document refuses an ISP whose row differs from its sealed entry; the other case keeps its documents
    only while its ISP's entry is the sealed one."""
    other = sc.add_isp(store, "Othernet", [64501], "abuse@other.example", "2 Other St", "DE", T0)
    does = {c.ip: c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust()).created}
    assert documents(store, tmp_path / "honest")[0] == sorted(does.values())
    tamper(
        store,
        "UPDATE isp SET asns = '[64501]' WHERE name = 'Loopnet'",
        "UPDATE isp SET asns = '[64500]' WHERE name = 'Othernet'",
        f"UPDATE legal_case SET isp_id = {other} WHERE doe = '{does[PORT_EDIT]}'",
    )
    lines, refused, notices = documents(store, tmp_path / "edited")
    assert lines == notices == []
    assert sorted(d for d, _ in refused) == sorted(does.values())
    moved = dict(refused)[does[PORT_EDIT]]
    assert f"ISP directory entry {other} (Othernet): the entry differs from the one sealed" in moved, moved
    assert all("abuse@other.example" not in p.read_text() for p in (tmp_path / "edited").rglob("*.txt"))


@pytest.mark.parametrize("edit", ["'{path}'", "NULL"])
def test_a_work_pointed_at_the_fake_torrent_or_at_nothing_accuses_nobody(
    torrent_store: Store, tmp_path: Path, contents: tuple[TorrentContent, TorrentContent], edit: str
) -> None:
    """``works link`` found the torrent fake against the work's reference. Pointing ``reference_path`` at a
    copy of the torrent's own content (it then re-checks confirmed), or clearing it (a plain link), with the
    link row set to match: the link row is not the verdict ``works link`` sealed (no case is built), and the
    work's row no longer hashes to the entry ``works add`` sealed (its reference copy's SHA-256 included),
    so no document names it."""
    real, other = contents
    store, ih = torrent_store, real.infohash_hex
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(copy_of(other, tmp_path / "film.bin")), T0)
    assert link_work(store, work, ih, T0).status == "fake"
    matching = copy_of(real, tmp_path / "fake-torrent.bin")
    status = "confirmed" if edit != "NULL" else "linked"
    tamper(
        store,
        f"UPDATE work SET reference_path = {edit.format(path=matching)}",
        f"UPDATE work_torrent SET status = '{status}', matched_pieces = checked_pieces",
    )
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    does = sorted(c.doe for c in report.created)
    # the link row no longer matches the verdict its seal records (fake), so no case is even built
    assert does == [] and len(report.skipped) == 2
    assert all("its verdict differs from the one sealed" in why for _, why in report.skipped), report.skipped
    lines, refused, notices = documents(store, tmp_path / "edited")
    assert lines == notices == [] and sorted(d for d, _ in refused) == does
    assert all(f"work {work} (Film): the entry differs from the one sealed" in w for _, w in refused), refused


def test_a_link_row_nobody_sealed_makes_no_case(torrent_store: Store) -> None:
    """A work without reference content that ``works link`` never linked: a ``work_torrent`` row inserted
    without the node key names no work, so no case is built, and the refusal names the link."""
    store = torrent_store
    ih = store_infohash(store)
    work = sc.add_work(store, "Rights Ltd", "Film B", None, None, T0)
    tamper(
        store,
        "INSERT INTO work_torrent (work_id, infohash, status, checked_pieces, matched_pieces, linked_us) "
        f"VALUES ({work}, '{ih}', 'linked', 0, 0, {T0})",
    )
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    assert report.created == [] and len(report.skipped) == 2
    for _, why in report.skipped:
        assert why.startswith(f"unchecked: the link of work {work} to torrent {ih} (linked, 0/0 pieces)")
        assert "is not sealed by a trusted node key (no sealed link" in why


def test_a_fake_link_made_plain_with_its_metainfo_blanked_makes_no_case(
    torrent_store: Store, contents: tuple[TorrentContent, TorrentContent], tmp_path: Path
) -> None:
    """``works link`` found the torrent fake; the row set to a plain ``linked`` 0/0 and the swarm's
    metainfo blanked (so nothing can be re-checked) is not the sealed verdict: no case."""
    _real, other = contents
    store, ih = torrent_store, store_infohash(torrent_store)
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(copy_of(other, tmp_path / "wrong.bin")), T0)
    assert link_work(store, work, ih, T0).status == "fake"
    tamper(
        store,
        "UPDATE work_torrent SET status = 'linked', checked_pieces = 0, matched_pieces = 0, detail = NULL",
        "UPDATE swarm SET metainfo = NULL",
    )
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    assert report.created == [] and len(report.skipped) == 2
    assert all("its verdict differs from the one sealed" in why for _, why in report.skipped), report.skipped


def test_a_reference_too_small_for_any_piece_proves_nothing(
    torrent_store: Store, contents: tuple[TorrentContent, TorrentContent], tmp_path: Path
) -> None:
    """An honest link whose reference holds no whole piece compares 0 pieces: sealed as checked, but a
    check that compared nothing is unverified and makes no case (it says so)."""
    real, _ = contents
    store, ih = torrent_store, real.infohash_hex
    small = tmp_path / "small.bin"
    small.write_bytes((real.data_dir / real.name).read_bytes()[: PIECE // 2])
    work = sc.add_work(store, "Rights Ltd", "Film", None, str(small), T0)
    row = link_work(store, work, ih, T0)
    assert (row.status, row.checked_pieces) == ("linked", 0)
    report = build_cases(store, ThresholdPolicy(), NOW, trust=trust())
    assert report.created == [] and len(report.skipped) == 2
    for _, why in report.skipped:
        assert why.startswith(f"unverified: no piece of torrent {ih} could be compared"), why
        assert why.endswith("a link that compares no piece proves nothing")


def store_infohash(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT infohash FROM swarm").scalar_one())
