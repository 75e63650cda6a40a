"""What creating a case asks of the proven ``case_built`` events (:mod:`swarmscope.store.legal.case_create`):
identities compared normalised (lower-case infohash, canonical IPv6 text, v4-mapped as IPv4), DOE numbers
read from proven subjects only, and a DOE number with proven events but no row named."""

from __future__ import annotations

from swarmscope.evidence.records import WorkflowEvent
from swarmscope.store.legal.case_create import SealedBuilds, canonical_ip, doe_number
from swarmscope.store.legal.workflow_seals import (
    CASE_BUILT,
    CASE_DECISION,
    ProvenEvent,
    WorkflowHistory,
    built_content,
    content_sha256,
)

IH = "ab" * 20


def _built(doe: str, ip: str, port: int = 6881, first: int = 5) -> ProvenEvent:
    sha = content_sha256(CASE_BUILT, built_content(doe, IH, ip, port, first))
    return ProvenEvent(WorkflowEvent(doe, CASE_BUILT, 1, sha), 0, 1)


def _history() -> WorkflowHistory:
    decision = ProvenEvent(WorkflowEvent("DOE-000007", CASE_DECISION, 2, b"\1" * 32), 1, 2)
    link = ProvenEvent(WorkflowEvent("link:1:" + IH, "work_link", 2, b"\2" * 32), 2, 2)
    return WorkflowHistory(
        {
            "DOE-000001": [_built("DOE-000001", "2001:db8::1")],
            "DOE-000002": [_built("DOE-000002", "127.0.0.12")],
            "DOE-000007": [decision],
            "link:1:" + IH: [link],
        }
    )


def test_addresses_are_compared_in_canonical_form() -> None:
    assert canonical_ip("::ffff:127.0.0.11") == "127.0.0.11"
    assert canonical_ip("2001:0DB8:0:0::1") == "2001:db8::1"
    assert canonical_ip(" 127.0.0.1 ") == "127.0.0.1"
    assert canonical_ip("not an address") == "not an address"


def test_doe_numbers_are_read_from_doe_subjects_only() -> None:
    assert doe_number("DOE-000042") == 42 and doe_number("DOE-1000000") == 1_000_000
    assert doe_number("isp:1") is None and doe_number("DOE-") is None and doe_number("DOE-١٢") is None


def test_a_sealed_identity_is_found_whatever_the_form_of_its_ip_and_infohash() -> None:
    sealed = SealedBuilds.of(_history())
    assert sealed.highest == 7  # a withdrawal names a DOE number too
    assert set(sealed.built) == {"DOE-000001", "DOE-000002"}
    assert sealed.claimant(IH.upper(), "2001:0db8:0000::0001", 6881, 5) == "DOE-000001"
    assert sealed.claimant(IH, "::ffff:127.0.0.12", 6881, 5) == "DOE-000002"
    assert sealed.claimant(IH, "::ffff:127.0.0.12", 6881, 5, other_than="DOE-000002") is None
    assert sealed.claimant(IH, "127.0.0.12", 6882, 5) is None  # another port
    assert sealed.claimant(IH, "127.0.0.12", 6881, 6) is None  # another first hit


def test_doe_numbers_with_proven_events_but_no_row_are_named() -> None:
    sealed = SealedBuilds.of(_history())
    missing = sealed.missing(["DOE-000001"])
    assert [line.split(":")[0] for line in missing] == ["DOE-000002", "DOE-000007"]
    assert all("sealed case row missing or altered" in line for line in missing)
    assert sealed.missing(["DOE-000001", "DOE-000002", "DOE-000007"]) == []
