"""A letter's payee must be the case's rights holder (one settings file may serve two clients): drafting
and approving refuse a letter that would ask the subscriber to pay another client."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from swarmscope.cases import letter_flow
from swarmscope.cases import letters as L
from swarmscope.cases.letter_flow import approve_letter, draft_letters
from swarmscope.cases.letter_payee import names_holder
from swarmscope.cases.letter_settings import LetterError
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.legal import letters as letter_store
from tests.cli.letter_world import SETTINGS, T0, World, status

register_commands()


def test_a_settings_file_of_another_client_is_refused_at_drafting(world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    doe = world.dois[0]
    rival = tmp_path / "rival.toml"
    text = (L.TEMPLATES / "settings.example.toml").read_text()
    rival.write_text(text.replace('payee = "Example Rights Ltd"', 'payee = "Rival Films"'))
    args = ["letters", "draft", "--case", doe, "--amount", "450.00", "--settings", str(rival)]
    result = CliRunner().invoke(app, [*args, "--db", str(world.db)])
    assert result.exit_code == 1
    (line,) = [x for x in result.output.strip().splitlines() if not x.startswith("warning: ")]
    assert line == (f"error: {doe}: the letter's payee is not the case's rights holder (Example Rights Ltd); "
                    "draft it with that rights holder's letter settings")  # fmt: skip
    assert status(world, doe) == "identified" and letter_store.list_letters(world.store) == []
    with pytest.raises(LetterError, match="payee is not the case's rights holder"):
        draft_letters(world.store, replace(SETTINGS, payee="Rival Films"), [doe], "counsel", T0)


def test_a_letter_drafted_for_another_payee_before_the_check_is_not_approved(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    doe = world.dois[0]
    with monkeypatch.context() as older:  # drafted by a swarmscope that did not check the payee
        older.setattr(letter_flow, "require_payee", lambda *_: None)
        draft_letters(world.store, replace(SETTINGS, payee="Rival Films"), [doe], "counsel", T0)
    assert status(world, doe) == "drafted"
    with pytest.raises(LetterError, match=r"payee is not the case's rights holder \(Example Rights Ltd\)"):
        approve_letter(world.store, doe, "counsel", T0 + 1)
    assert status(world, doe) == "drafted" and letter_store.list_letters(world.store)[0].approved_us is None


def test_the_payee_names_the_holder_by_whole_words() -> None:
    assert names_holder("Example Rights Ltd", "example  rights LTD")
    assert names_holder("Example Rights Ltd, client account", "Example Rights Ltd")
    assert not names_holder("Example Rights Ltd", "Rival Films")
    assert not names_holder("Example Rightsholders Ltd", "Example Rights")
    assert not names_holder("Anything", "")
