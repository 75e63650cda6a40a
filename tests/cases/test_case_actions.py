"""Workflow actions called directly (as a web console will): the same gates as the commands, nothing written
when a gate refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from swarmscope.cases.case_actions import decision_refusal, escalate_case, record_decision, record_dispute
from swarmscope.cases.directory import add_isp, add_work
from swarmscope.cases.requests import advance_request, start_request
from swarmscope.cases.workflow import RequestStatus, WorkflowError
from swarmscope.errors import InputError
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from tests.cli.letter_world import T0, World, open_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from open_world(tmp_path)


def _history(world: World, doe: str) -> tuple[str, int]:
    case = case_status.get_case(world.store, doe)
    return case.status, len(case_status.case_events(world.store, case.id))


def test_only_counsels_decisions_are_recorded_directly(world: World) -> None:
    doe = world.dois[0]
    before = _history(world, doe)
    with pytest.raises(InputError, match="use `swarmscope letters send`"):
        record_decision(world.store, doe, "send", "counsel", None, T0 + 1)
    assert _history(world, doe) == before  # refused: no status change, no event
    assert decision_refusal("withdraw") is None and decision_refusal("dance") == "unknown event"
    case = record_decision(world.store, doe, "withdraw", "counsel", "rights holder dropped it", T0 + 2)
    assert case.status == "withdrawn" and _history(world, doe) == ("withdrawn", before[1] + 1)


@pytest.mark.parametrize("summary", ["not me\x1b[2J", "not\u202eme", "a\rb"])
def test_dispute_summary_with_control_character_refused(world: World, summary: str) -> None:
    """A terminal escape or bidi override in a summary is refused before anything is written or sealed."""
    doe = world.dois[0]
    before = _history(world, doe)
    entries = _ledger_entries(world)
    with pytest.raises(InputError, match=r"^dispute summary: contains a control"):
        record_dispute(world.store, doe, summary, received_us=T0, actor="clerk", now_us=T0 + 1)
    assert _history(world, doe) == before
    assert _ledger_entries(world) == entries  # nothing sealed


def _ledger_entries(world: World) -> int:
    with world.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one())


def test_escalation_needs_no_response(world: World) -> None:
    doe = world.dois[1]
    before = _history(world, doe)
    with pytest.raises(WorkflowError):
        escalate_case(world.store, doe, "counsel", T0 + 1, None)  # identified, not no_response
    assert _history(world, doe) == before


def test_directory_entries_are_checked_before_any_write(world: World, tmp_path: Path) -> None:
    isps = len(case_store.list_isps(world.store))
    with pytest.raises(InputError, match=r"^NAME: contains a control, bidi"):
        add_isp(world.store, "Evil\u202eISP", [64501], "abuse@evil.test", "1 Way", "DE", T0)
    with pytest.raises(InputError, match=r"^--abuse-email: not a single valid"):
        add_isp(world.store, "Other ISP", [64501], "a@b.test\r\nBcc: x@y.test", "1 Way", "DE", T0)
    assert len(case_store.list_isps(world.store)) == isps
    works = len(case_store.work_rows(world.store))
    with pytest.raises(InputError, match=r"^--title: must not be empty"):
        add_work(world.store, "Example Rights Ltd", " ", None, None, None, T0)
    with pytest.raises(InputError, match=r"^--reference .*: no such file or folder"):
        add_work(world.store, "Example Rights Ltd", "Sequel", None, tmp_path / "missing", None, T0)
    assert len(case_store.work_rows(world.store)) == works


def test_disclosure_requests_keep_their_gates(world: World) -> None:
    isp = case_store.get_isp(world.store, "Loopback Telecom")
    with pytest.raises(InputError, match=r"^--region: contains a control"):
        start_request(world.store, isp, "Berlin\x1b[2J", T0, "counsel", attach=True)
    assert case_status.request_rows(world.store, isp_id=isp.id) == []
    with pytest.raises(InputError, match="no open disclosure request for this ISP"):
        advance_request(
            world.store, isp, RequestStatus.SERVED, request_id=None, actor="counsel", note=None, now_us=T0
        )
    rid, named = start_request(world.store, isp, "Berlin", T0, "counsel", attach=True)
    assert named == 0  # every case of the world is past candidate already
    done = advance_request(
        world.store, isp, RequestStatus.SERVED, request_id=None, actor="counsel", note=None, now_us=T0 + 1
    )
    assert (done.id, done.status) == (rid, "served")
