"""Subscriber intake: disclosure rows matched to cases, identities encrypted at rest, every access audited."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from swarmscope.cases.identities import Identity, IdentityError, IdentityKey, parse_disclosure
from swarmscope.cases.workflow import next_case_status
from swarmscope.store.database import Store, StoreError
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal.disclosure_match import Disclosed
from swarmscope.store.legal.schema import audit_log, case_event, disclosure_request, legal_case, subscriber
from swarmscope.store.legal.subscribers import (
    ImportReport,
    UnboundIdentity,
    audit_rows,
    import_disclosure,
    read_identity,
    subscriber_rows,
)
from tests.store.factories import SWARM_A, T0

KEY = IdentityKey(bytes(range(32)))
HOUR = 3600 * 10**6
NAMES = ("Alice Ämmerle", "Hauptstraße 1, 10115 Berlin", "alice@example.test", "Bob Brown", "2 Road, Leeds")


def make_case(
    store: Store,
    doe: str,
    ip: str,
    *,
    first: int = T0,
    last: int = T0 + HOUR,
    status: str = "requested",
    closed_us: int | None = None,
    isp_id: int | None = None,
    port: int = 6881,
    request: str | None = None,
) -> int:
    """A legal_case row as H's upsert_case + set_case_status would leave it (status set directly).

    ``request``: the status of a disclosure request naming the case (None: no request).
    """
    request_id = None
    if request is not None:
        if isp_id is None:
            isp_id = case_store.add_isp(store, f"ISP of {doe}", [64000 + int(doe[-4:])], None, None, "DE", T0)
        with store._write() as conn:
            values = {"isp_id": isp_id, "status": request, "created_us": T0, "status_us": T0}
            inserted = conn.execute(sa.insert(disclosure_request).values(values)).inserted_primary_key
            assert inserted is not None
            request_id = int(inserted[0])
    with store._write() as conn:
        values = {
            "doe": doe,
            "ip": ip,
            "port": port,
            "infohash": SWARM_A,
            "first_hit_us": first,
            "last_hit_us": last,
            "hits": 3,
            "status": status,
            "created_us": T0,
            "status_us": closed_us or T0,
            "closed_us": closed_us,
            "isp_id": isp_id,
            "request_id": request_id,
        }
        key = conn.execute(sa.insert(legal_case).values(values)).inserted_primary_key
        assert key is not None
        return int(key[0])


def iso(t_us: int) -> str:
    from swarmscope.evidence.records import us_to_iso

    return us_to_iso(t_us)


def disclosure(*rows: tuple[str, int, int, str, str, str]) -> bytes:
    lines = ["ip,start,end,name,postal_address,email"]
    lines += [f'{ip},{iso(a)},{iso(b)},{n},"{p}",{e}' for ip, a, b, n, p, e in rows]
    return ("\n".join(lines) + "\n").encode()


ALICE_ROW = ("127.0.0.2", T0 - HOUR, T0 + 3 * HOUR, NAMES[0], NAMES[1], NAMES[2])  # covers T0 .. T0+2h
BOB_ROW = ("127.0.0.3", T0, T0 + 5 * HOUR, NAMES[3], NAMES[4], "")


def do_import(store: Store, data: bytes, *, partial: bool = False) -> ImportReport:
    return import_disclosure(
        store,
        KEY,
        parse_disclosure(data),
        source_sha256="ab" * 32,
        actor="counsel",
        now_us=T0 + 10 * HOUR,
        rule=next_case_status,
        partial=partial,
    )


def test_import_matches_by_ip_and_window_and_moves_cases(store: Store) -> None:
    a = make_case(store, "DOE-000001", "127.0.0.2")
    b = make_case(store, "DOE-000002", "127.0.0.3")
    report = do_import(store, disclosure(ALICE_ROW, BOB_ROW))
    assert report.imported == ((2, "DOE-000001"), (3, "DOE-000002"))
    assert report.problems == ()
    assert {case_status.get_case(store, a).status, case_status.get_case(store, b).status} == {"identified"}
    rows = subscriber_rows(store)
    assert [(r.doe, r.key_id, r.source_sha256) for r in rows] == [
        ("DOE-000001", KEY.key_id, "ab" * 32),
        ("DOE-000002", KEY.key_id, "ab" * 32),
    ]
    assert (rows[0].window_start_us, rows[0].window_end_us) == (T0 - HOUR, T0 + 3 * HOUR)
    assert [(r.action, r.subject, r.actor) for r in audit_rows(store)] == [
        ("import", "case:DOE-000001", "counsel"),
        ("import", "case:DOE-000002", "counsel"),
    ]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(case_event)).scalar_one() == 2


def test_identities_are_unreadable_in_the_database_file(store: Store, db_path: Path) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    make_case(store, "DOE-000002", "127.0.0.3")
    do_import(store, disclosure(ALICE_ROW, BOB_ROW))
    store.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith(db_path.name))
    for secret in NAMES:
        assert secret.encode() not in raw and secret.encode("utf-16-le") not in raw
    assert KEY.secret not in raw and KEY.secret.hex().encode() not in raw


def test_every_read_is_audited_and_a_wrong_key_fails_cleanly(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    assert read_identity(store, KEY, "DOE-000001", "clerk", T0 + 11 * HOUR) == Identity(*NAMES[:3])
    assert read_identity(store, KEY, "DOE-000001", "clerk", T0 + 12 * HOUR).name == NAMES[0]
    with pytest.raises(IdentityError, match="wrong key"):
        read_identity(store, IdentityKey(bytes(32)), "DOE-000001", "intruder", T0 + 13 * HOUR)
    reads = [(r.actor, r.action, r.at_us) for r in audit_rows(store) if r.action != "import"]
    assert reads == [
        ("clerk", "read", T0 + 11 * HOUR),
        ("clerk", "read", T0 + 12 * HOUR),
        ("intruder", "read_failed", T0 + 13 * HOUR),  # a failed decryption is not a read
    ]
    failed = audit_rows(store)[-1]
    assert IdentityKey(bytes(32)).key_id in (failed.detail or "") and "cannot decrypt" in (
        failed.detail or ""
    )


def test_audit_log_holds_no_personal_data(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    read_identity(store, KEY, "DOE-000001", "clerk", T0 + 11 * HOUR)
    with store.engine.connect() as conn:
        text = repr(conn.execute(sa.select(audit_log)).all())
    for secret in NAMES[:3]:
        assert secret not in text
    assert "127.0.0.2" not in text


def test_read_without_identity_is_logged_and_refused(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    with pytest.raises(StoreError, match="no stored identity"):
        read_identity(store, KEY, "DOE-000001", "clerk", T0)
    assert [(r.action, r.detail) for r in audit_rows(store)] == [("read_failed", "no identity stored")]


def test_ciphertext_swapped_between_rows_does_not_decrypt(store: Store) -> None:
    a = make_case(store, "DOE-000001", "127.0.0.2")
    b = make_case(store, "DOE-000002", "127.0.0.3")
    do_import(store, disclosure(ALICE_ROW, BOB_ROW))
    rows = {r.case_id: r for r in subscriber_rows(store)}
    with pytest.raises(IdentityError):
        KEY.open(rows[a].ciphertext, b, rows[b].disclosed)  # type: ignore[arg-type]


def _rewrite(store: Store, case_id: int, **values: object) -> None:
    """What someone with write access to the file (no identity key) can do to a subscriber row."""
    with store._write() as conn:
        conn.execute(sa.update(subscriber).where(subscriber.c.case_id == case_id).values(**values))


def test_each_row_stores_what_was_disclosed(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    (row,) = subscriber_rows(store)
    assert row.disclosed == Disclosed("127.0.0.2", None, T0 - HOUR, T0 + 3 * HOUR)


@pytest.mark.parametrize(
    "edit",
    [
        {"ip": "127.0.0.3"},  # the disclosure moved to another address
        {"port": 6881},  # a port the ISP never named
        {"window_start_us": T0 - 9 * HOUR},  # the window widened
        {"window_end_us": T0 + 9 * HOUR},
    ],
)
def test_an_edited_disclosure_does_not_open(store: Store, edit: dict[str, object]) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    _rewrite(store, 1, **edit)
    with pytest.raises(IdentityError, match="sealed for another disclosure"):
        read_identity(store, KEY, "DOE-000001", "clerk", T0 + 11 * HOUR)
    assert audit_rows(store)[-1].action == "read_failed"


def test_another_cases_ciphertext_with_its_disclosure_is_refused(store: Store) -> None:
    a = make_case(store, "DOE-000001", "127.0.0.2")
    b = make_case(store, "DOE-000002", "127.0.0.3")
    do_import(store, disclosure(ALICE_ROW, BOB_ROW))
    bob = {r.case_id: r for r in subscriber_rows(store)}[b]
    _rewrite(store, a, ciphertext=bob.ciphertext, ip=bob.ip, port=bob.port,
             window_start_us=bob.window_start_us, window_end_us=bob.window_end_us)  # fmt: skip
    with pytest.raises(IdentityError):
        read_identity(store, KEY, "DOE-000001", "clerk", T0 + 11 * HOUR)
    assert read_identity(store, KEY, "DOE-000002", "clerk", T0 + 11 * HOUR).name == NAMES[3]


def test_an_unbound_identity_is_refused_until_the_disclosure_is_imported_again(store: Store) -> None:
    a = make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    nonce = bytes(12)  # a row as stored before the binding: ip NULL, version 1 (case id only)
    old = AESGCM(KEY.secret).encrypt(
        nonce, Identity(*NAMES[:3]).to_bytes(), f"swarmscope subscriber v1 case={a}".encode()
    )
    _rewrite(store, a, ip=None, port=None, ciphertext=b"\x01" + nonce + old)
    case_status.set_case_status(store, a, "draft", "counsel", None, T0 + 10 * HOUR, rule=next_case_status)
    with pytest.raises(UnboundIdentity, match=r"DOE-000001: .*import the ISP's disclosure again"):
        read_identity(store, KEY, "DOE-000001", "clerk", T0 + 11 * HOUR)
    assert (audit_rows(store)[-1].action, audit_rows(store)[-1].detail) == (
        "read_failed",
        "unbound: stored before the disclosure binding",
    )
    report = do_import(store, disclosure(ALICE_ROW))
    assert report.imported == ((2, "DOE-000001"),) and report.problems == ()
    assert case_status.get_case(store, a).status == "drafted"  # re-bound, its status kept
    assert "re-bound" in (audit_rows(store)[-1].detail or "")
    assert read_identity(store, KEY, "DOE-000001", "clerk", T0 + 12 * HOUR) == Identity(*NAMES[:3])
    again = do_import(store, disclosure(ALICE_ROW))
    assert again.problems == ((2, "no case awaiting disclosure (DOE-000001 is drafted)"),)  # bound now


@pytest.mark.parametrize(
    ("cases", "row", "problem"),
    [
        ([], ALICE_ROW, "no case for this IP address"),
        (
            [("DOE-000001", "127.0.0.2", T0 + 4 * HOUR, T0 + 5 * HOUR, "requested")],
            ALICE_ROW,
            "no case for this IP",
        ),  # windows disjoint
        ([("DOE-000001", "127.0.0.9", T0, T0 + HOUR, "requested")], ALICE_ROW, "no case for this IP"),
        ([("DOE-000001", "127.0.0.2", T0, T0 + HOUR, "candidate")], ALICE_ROW, "DOE-000001 is candidate"),
        (
            [
                ("DOE-000001", "127.0.0.2", T0, T0 + HOUR, "requested"),
                ("DOE-000002", "127.0.0.2", T0 - HOUR, T0, "requested"),
            ],
            ALICE_ROW,
            "ambiguous: matches DOE-000001, DOE-000002",
        ),
    ],
)
def test_unmatched_rows_import_nothing(
    store: Store,
    cases: list[tuple[str, str, int, int, str]],
    row: tuple[str, int, int, str, str, str],
    problem: str,
) -> None:
    for doe, ip, first, last, status in cases:
        make_case(store, doe, ip, first=first, last=last, status=status)
    make_case(store, "DOE-000099", "127.0.0.3")
    report = do_import(store, disclosure(BOB_ROW, row))
    assert report.imported == ()
    assert [line for line, _ in report.problems] == [3]
    assert problem in report.problems[0][1]
    assert subscriber_rows(store) == [] and audit_rows(store) == []
    assert case_status.get_case(store, "DOE-000099").status == "requested"


def test_partial_imports_good_rows_and_reports_the_rest(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.3")
    report = do_import(store, disclosure(ALICE_ROW, BOB_ROW), partial=True)
    assert report.imported == ((3, "DOE-000001"),)
    assert [line for line, _ in report.problems] == [2]
    assert [r.doe for r in subscriber_rows(store)] == ["DOE-000001"]


def test_a_second_disclosure_for_an_identified_case_is_refused(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    do_import(store, disclosure(ALICE_ROW))
    report = do_import(store, disclosure(ALICE_ROW))
    assert report.imported == () and "is identified" in report.problems[0][1]
    twice = do_import(store, disclosure(BOB_ROW, BOB_ROW))
    assert "no case" in twice.problems[0][1]


def test_isp_filter_matches_only_that_isps_cases(store: Store) -> None:
    mine = case_store.add_isp(store, "Loopback Net", [64512], None, None, "DE", T0)
    other = case_store.add_isp(store, "Other Net", [64513], None, None, "DE", T0)
    make_case(store, "DOE-000001", "127.0.0.2", isp_id=other)
    make_case(store, "DOE-000002", "127.0.0.3", isp_id=mine)
    report = import_disclosure(
        store,
        KEY,
        parse_disclosure(disclosure(ALICE_ROW, BOB_ROW)),
        source_sha256="cd" * 32,
        actor="counsel",
        now_us=T0,
        rule=next_case_status,
        isp_id=mine,
        partial=True,
    )
    assert report.imported == ((3, "DOE-000002"),)
    assert report.problems == ((2, "no case for this IP address in this window"),)


def test_two_rows_for_one_case_refused_for_both_lines(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2")
    report = do_import(store, disclosure(ALICE_ROW, ALICE_ROW))
    assert report.imported == ()
    assert [line for line, _ in report.problems] == [2, 3]
    assert all("conflict: lines 2, 3 all name DOE-000001" in m for _, m in report.problems)


def rows_of(*rows: tuple[str, int, int, str, str, str, int | None]) -> bytes:
    """A disclosure CSV with the optional ``port`` column (None: empty cell)."""
    lines = ["ip,start,end,name,postal_address,email,port"]
    lines += [
        f'{ip},{iso(a)},{iso(b)},{n},"{p}",{e},{"" if port is None else port}'
        for ip, a, b, n, p, e, port in rows
    ]
    return ("\n".join(lines) + "\n").encode()


def test_window_exactly_the_hit_interval_is_enough(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2", first=T0, last=T0 + 2 * HOUR)
    report = do_import(store, disclosure(("127.0.0.2", T0, T0 + 2 * HOUR, *NAMES[:3])))
    assert report.imported == ((2, "DOE-000001"),) and report.problems == ()


@pytest.mark.parametrize(
    ("window", "covers"),
    [
        ((T0 - HOUR, T0 + HOUR), "the first hit but not the last (3 hits)"),
        ((T0 + HOUR, T0 + 3 * HOUR), "the last hit but not the first (3 hits)"),
        ((T0 + HOUR // 2, T0 + HOUR + HOUR // 2), "neither the first nor the last hit (3 hits)"),
        ((T0 + 2 * HOUR - 1, T0 + 5 * HOUR), "the last hit but not the first (3 hits)"),  # 1 µs short
    ],
)
def test_window_covering_only_some_hits_identifies_nobody(
    store: Store, window: tuple[int, int], covers: str
) -> None:
    """H3: an overlap is not enough; the ISP must vouch for the account over every hit."""
    make_case(store, "DOE-000001", "127.0.0.2", first=T0, last=T0 + 2 * HOUR)
    report = do_import(store, disclosure(("127.0.0.2", *window, *NAMES[:3])), partial=True)
    assert report.imported == ()
    assert report.problems[0][0] == 2 and f"window covers {covers} of DOE-000001" in report.problems[0][1]
    assert "not imported" in report.problems[0][1]
    assert subscriber_rows(store) == [] and case_status.get_case(store, "DOE-000001").status == "requested"


def test_partial_coverage_counts_the_sealed_hits(store: Store) -> None:
    from tests.cases.evidence import hit, seal

    seal(store, [hit("127.0.0.2", 0), hit("127.0.0.2", 60), hit("127.0.0.2", 120)], swarms=())
    make_case(store, "DOE-000001", "127.0.0.2", first=T0, last=T0 + 2 * HOUR)
    report = do_import(store, disclosure(("127.0.0.2", T0 - HOUR, T0 + HOUR // 2, *NAMES[:3])))
    assert report.problems[0][0] == 2 and "window covers 1 of 3 hits of DOE-000001" in report.problems[0][1]
    report = do_import(store, disclosure(("127.0.0.2", T0 - HOUR, T0 + HOUR, *NAMES[:3])))
    assert "window covers 2 of 3 hits" in report.problems[0][1]
    assert subscriber_rows(store) == []


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_conflicting_rows_never_settled_by_file_order(store: Store, order: tuple[int, int]) -> None:
    """H3: Alice and Bob both named for one address and time: neither imported, even with --partial."""
    make_case(store, "DOE-000001", "127.0.0.2")
    make_case(store, "DOE-000002", "127.0.0.3")
    rivals = [ALICE_ROW, ("127.0.0.2", T0 + HOUR, T0 + 9 * HOUR, NAMES[3], NAMES[4], "")]
    report = do_import(store, disclosure(rivals[order[0]], rivals[order[1]], BOB_ROW), partial=True)
    assert report.imported == ((4, "DOE-000002"),)
    assert [line for line, _ in report.problems] == [2, 3]
    assert all("conflict" in m and "DOE-000001" in m for _, m in report.problems)
    assert [r.doe for r in subscriber_rows(store)] == ["DOE-000002"]
    assert case_status.get_case(store, "DOE-000001").status == "requested"


def test_port_column_tells_cgnat_subscribers_apart(store: Store) -> None:
    """Two subscribers share 127.0.0.2 behind carrier-grade NAT; only the case's port identifies."""
    make_case(store, "DOE-000001", "127.0.0.2", port=40001)
    data = rows_of(
        ("127.0.0.2", T0 - HOUR, T0 + 3 * HOUR, *NAMES[:3], 40002),
        ("127.0.0.2", T0 - HOUR, T0 + 3 * HOUR, NAMES[3], NAMES[4], "", 40001),
    )
    report = do_import(store, data, partial=True)
    assert report.imported == ((3, "DOE-000001"),)
    assert report.problems == (
        (2, "port 40002 is not the port of the case(s) in this window (DOE-000001 port 40001)"),
    )
    assert read_identity(store, KEY, "DOE-000001", "clerk", T0).name == NAMES[3]


def test_rows_without_port_for_a_cgnat_address_conflict(store: Store) -> None:
    make_case(store, "DOE-000001", "127.0.0.2", port=40001)
    data = rows_of(
        ("127.0.0.2", T0 - HOUR, T0 + 3 * HOUR, *NAMES[:3], None),
        ("127.0.0.2", T0 - HOUR, T0 + 3 * HOUR, NAMES[3], NAMES[4], "", 40001),
    )
    report = do_import(store, data, partial=True)
    assert report.imported == () and [line for line, _ in report.problems] == [2, 3]


@pytest.mark.parametrize("status", ["drafted", "contested", "quashed"])
def test_no_intake_under_a_request_that_is_not_in_force(store: Store, status: str) -> None:
    """H4: a quashed or contested (or never served) disclosure request allows no identification."""
    make_case(store, "DOE-000001", "127.0.0.2", request=status)
    report = do_import(store, disclosure(ALICE_ROW), partial=True)
    assert report.imported == () and report.problems[0][0] == 2
    assert f"disclosure request 1 is {status}" in report.problems[0][1]
    assert subscriber_rows(store) == [] and audit_rows(store) == []
    assert case_status.get_case(store, "DOE-000001").status == "requested"


@pytest.mark.parametrize("status", ["served", "complied", "partially_complied"])
def test_intake_under_a_request_in_force(store: Store, status: str) -> None:
    make_case(store, "DOE-000001", "127.0.0.2", request=status)
    assert do_import(store, disclosure(ALICE_ROW)).imported == ((2, "DOE-000001"),)


def test_hit_recount_uses_the_cases_port_when_hits_are_grouped_per_port(store: Store) -> None:
    from tests.cases.evidence import hit, seal

    seal(
        store,
        [hit("127.0.0.2", m, port=p) for m, p in ((0, 7001), (30, 7002), (60, 7001), (120, 7001))],
        swarms=(),
    )
    make_case(store, "DOE-000001", "127.0.0.2", first=T0, last=T0 + 2 * HOUR, port=7001)
    report = do_import(store, disclosure(("127.0.0.2", T0 - HOUR, T0 + HOUR // 2, *NAMES[:3])))
    assert "window covers 1 of 3 hits of DOE-000001" in report.problems[0][1]
