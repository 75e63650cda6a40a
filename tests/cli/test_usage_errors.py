"""Usage errors are one plain line and exit status 1 (as the README promises); help texts are not markup."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app

register_commands()
RUNNER = CliRunner()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["monitor", "--frobnicate", "x.torrent"], "No such option: --frobnicate"),
        (["monitor"], "Missing argument"),
        (["issues", "show", "9"], "No such command 'issues'"),
        (["cases", "bogus"], "No such command 'bogus'"),
        (["report", "--format", "xml"], "'--format'"),
        (["letters", "approve"], "Missing argument 'case'"),
        (["export"], "Missing option '--out'"),
        (["purge", "--dry-run=yes"], "--dry-run"),
    ],
)
def test_usage_error_is_one_line_and_exit_1(args: list[str], expected: str) -> None:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert not re.search("[╭│╰]", result.output) and result.stdout == ""


def test_console_script_exits_1_on_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", "verify", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: No such option: --no-such-option (see 'python -m swarmscope.cli verify --help')"
    ]


def test_a_group_without_a_command_prints_its_help() -> None:
    result = RUNNER.invoke(app, ["cases"])
    assert result.exit_code == 0 and "Usage:" in result.stdout and "build" in result.stdout


def _commands(cmd: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_brackets_in_help_texts_are_shown_as_written() -> None:
    shown = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        texts = [getattr(cmd, "help", None) or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        brackets = [b for text in texts for b in re.findall(r"\[[^\]\n]*\]", text)]
        if not brackets:
            continue
        result = RUNNER.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        flat = " ".join(result.stdout.split())
        for bracket in brackets:
            assert " ".join(bracket.split()) in flat, (path, bracket)
            shown += 1
    assert shown >= 1  # [letters] of --settings; with them the range of every numeric option
    letters = RUNNER.invoke(app, ["letters", "draft", "--help"], terminal_width=200)
    assert "Letter settings (TOML, [letters] table)." in letters.stdout


def _groups() -> list[tuple[str, ...]]:
    """The path of every command group registered on the app, the root and nested groups included."""
    tree = _commands(typer.main.get_command(app))
    return [path for path, cmd in tree if isinstance(cmd, TyperGroup)]


def test_the_registry_has_groups() -> None:
    assert {("cases",), ("datasets",), ("escalations",), ("subscribers",)} <= set(_groups())


@pytest.mark.parametrize("path", _groups(), ids=lambda path: " ".join(("swarmscope", *path)))
def test_every_group_without_a_command_prints_its_help(path: tuple[str, ...]) -> None:
    result = RUNNER.invoke(app, list(path), terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout.startswith("Usage: ")
    group = typer.main.get_command(app)
    for name in path:
        group = group.commands[name]  # type: ignore[attr-defined]
    for name, sub in group.commands.items():  # type: ignore[attr-defined]
        if not sub.hidden:
            assert name in result.stdout, (path, name)
