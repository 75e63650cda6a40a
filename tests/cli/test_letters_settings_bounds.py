"""A letter settings file is held to the bounds of the options it stands in for: ``--deadline-days`` is
1..3650 days, so ``deadline_days`` (and ``reminder_days``) in ``--settings`` are too. Out of range is one
line and exit status 1 before anything is written or sealed; no later command may then fail on a
drafted deadline no calendar holds (a year past 9999 cannot be shown, a number past 2^63 µs not stored).
The letters world (tests/cli/letter_world.py), SQLite.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases import letter_flow
from swarmscope.cases import letters as L
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.errors import InputError
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from tests.cli import letter_world as lw
from tests.cli.letter_world import World

register_commands()


@pytest.mark.parametrize("days", ["10000000", "99999999999999999999"])
def test_a_deadline_past_the_option_bound_in_a_settings_file_is_one_line_and_nothing_drafted(
    world: World, tmp_path: Path, days: str
) -> None:
    text = (L.TEMPLATES / "settings.example.toml").read_text(encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text(
        re.sub(r"(?m)^deadline_days\s*=.*$", f"deadline_days = {days}", text), encoding="utf-8"
    )
    doe = world.dois[0]
    drafted = CliRunner().invoke(
        app, ["letters", "draft", "--case", doe, "--settings", str(settings), "--db", str(world.db)]
    )
    case = case_status.get_case(world.store, doe)
    assert drafted.exception is None or isinstance(drafted.exception, SystemExit), repr(drafted.exception)
    assert drafted.exit_code == 1 and "deadline_days" in drafted.stderr, (drafted.stdout, drafted.stderr)
    assert letter_store.list_letters(world.store, case_id=case.id) == []
    preview = CliRunner().invoke(app, ["letters", "preview", doe, "--db", str(world.db)])
    assert preview.exception is None or isinstance(preview.exception, SystemExit), repr(preview.exception)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("reminder_days", "3651"),
        ("deadline_days", "0"),
        ("sender_address", '"1 Example Street\\u202e, 10115 Berlin"'),
        ("dispute_address", '"Disputes\\u200b, 1 Example Street"'),
        ("dispute_address", '"Disputes\\u0007, 1 Example Street"'),
    ],
)
def test_a_settings_value_out_of_bounds_or_with_a_control_character_is_one_line(
    world: World, tmp_path: Path, key: str, value: str
) -> None:
    """Days outside 1..3650 (``--deadline-days``'s bounds), and a bidi override, zero-width or control
    character in a postal address (which read differently from what is stored, Unicode TR #36), are one
    line naming the setting, exit 1, nothing drafted."""
    text = (L.TEMPLATES / "settings.example.toml").read_text(encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text(re.sub(rf"(?m)^{key}\s*=.*$", lambda _: f"{key} = {value}", text), encoding="utf-8")
    doe = world.dois[0]
    drafted = CliRunner().invoke(
        app, ["letters", "draft", "--case", doe, "--settings", str(settings), "--db", str(world.db)]
    )
    assert drafted.exit_code == 1 and drafted.stderr.startswith(f"error: {key}: "), drafted.stderr
    assert len(drafted.stderr.splitlines()) == 1
    assert letter_store.list_letters(world.store, case_id=case_status.get_case(world.store, doe).id) == []


def test_a_postal_address_may_hold_line_breaks(world: World) -> None:
    """A line break is part of a postal address (as for a subscriber's address), nothing else is."""
    fine = replace(lw.SETTINGS, sender_address="1 Example Street\n10115 Berlin")
    assert fine.checked() is fine


def test_a_draft_that_fails_while_writing_its_letter_leaves_the_case_as_it_was(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case's move to ``drafted`` and its letter row are one transaction: a failure writing the letter
    (here its payment reference) leaves the case ``identified``, with no event, and it drafts afterwards."""
    doe = world.dois[0]
    before = case_status.get_case(world.store, doe)
    events = len(case_status.case_events(world.store, doe))

    def broken(case_id: int, number: int) -> str:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(letter_flow, "payment_reference", broken)
    with pytest.raises(RuntimeError, match="disk filled"):
        letter_flow.draft_letters(world.store, lw.SETTINGS, [doe], "counsel", lw.T0)
    assert case_status.get_case(world.store, doe) == before and before.status == "identified"
    assert len(case_status.case_events(world.store, doe)) == events
    assert letter_store.list_letters(world.store, case_id=before.id) == []
    monkeypatch.undo()
    (row,) = letter_flow.draft_letters(world.store, lw.SETTINGS, [doe], "counsel", lw.T0)
    assert case_status.get_case(world.store, doe).status == "drafted" and row.case_id == before.id
    with pytest.raises(InputError, match=r"deadline_days: 3651 is out of range \(1\.\.3650 days\)"):
        letter_flow.draft_letters(world.store, replace(lw.SETTINGS, deadline_days=3651), [doe], "c", lw.T0)
