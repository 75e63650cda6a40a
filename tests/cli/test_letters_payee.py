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


def test_the_payee_is_the_holders_name_exactly_once_normalised() -> None:
    """Case, Unicode compatibility forms and whitespace do not matter; anything else does (the earlier
    whole-words rule let a payee that merely contained the holder's name through)."""
    assert names_holder("Example Rights Ltd", "example  rights LTD")
    assert names_holder("ＥＸＡＭＰＬＥ\tRights\u00a0Ltd ", "Example Rights Ltd")  # full-width, tab, NBSP
    assert names_holder("EXAMPLE RIGHTS LTD", "example rights ltd")
    assert not names_holder("Example Rights Ltd, client account", "Example Rights Ltd")
    assert not names_holder("Example Rights Ltd", "Rights Ltd")
    assert not names_holder("Example Rights Ltd", "Rival Films")
    assert not names_holder("Example Rightsholders Ltd", "Example Rights")
    assert not names_holder("Anything", "") and not names_holder("", "") and not names_holder(" ", " ")


@pytest.mark.parametrize("payee", ["", "   ", "\u3000"])
def test_a_letter_without_a_payee_is_refused_at_drafting(world: World, tmp_path, payee: str) -> None:  # type: ignore[no-untyped-def]
    doe = world.dois[0]
    empty = tmp_path / "no-payee.toml"
    text = (L.TEMPLATES / "settings.example.toml").read_text()
    empty.write_text(text.replace('payee = "Example Rights Ltd"', f'payee = "{payee}"'))
    args = ["letters", "draft", "--case", doe, "--amount", "450.00", "--settings", str(empty)]
    result = CliRunner().invoke(app, [*args, "--db", str(world.db)])
    assert result.exit_code == 1
    (line,) = [x for x in result.output.strip().splitlines() if not x.startswith("warning: ")]
    assert line == (f"error: {doe}: the letter names no payee; the payee must be the case's rights holder "
                    "(Example Rights Ltd)")  # fmt: skip
    assert status(world, doe) == "identified" and letter_store.list_letters(world.store) == []
    spaced = replace(SETTINGS, payee="  example   RIGHTS ltd ")
    assert draft_letters(world.store, spaced, [doe], "counsel", T0)  # the holder's name, normalised


def test_a_letter_drafted_without_a_payee_before_the_check_is_not_approved(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    doe = world.dois[0]
    with monkeypatch.context() as older:  # drafted by a swarmscope that let an empty payee through
        older.setattr(letter_flow, "require_payee", lambda *_: None)
        draft_letters(world.store, replace(SETTINGS, payee=""), [doe], "counsel", T0)
    result = CliRunner().invoke(app, ["letters", "approve", doe, "--actor", "alice", "--db", str(world.db)])
    assert result.exit_code == 1
    (line,) = [x for x in result.output.strip().splitlines() if not x.startswith("warning: ")]
    assert line.startswith(f"error: {doe}: the letter names no payee")
    assert status(world, doe) == "drafted" and letter_store.list_letters(world.store)[0].approved_us is None
