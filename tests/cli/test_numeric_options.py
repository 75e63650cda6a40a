"""Every numeric option of every command refuses NaN, infinities and out-of-range values (one line, exit 1).

The command tree is walked (Typer → click), so a numeric option added later without
:func:`swarmscope.cli.numeric.number_option` fails :func:`test_every_numeric_option_has_bounds`, and its
bad values are fed by :func:`test_bad_values_give_one_line_and_exit_1`.
"""

from __future__ import annotations

import math
import os
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.evidence_options import EvidenceOptions
from swarmscope.cli.monitor import run_monitor_command
from swarmscope.cli.numeric import UTC_US, Bounds, NumberParser
from swarmscope.errors import InputError

register_commands()
RUNNER = CliRunner()


def _is_number(annotation: object) -> bool:
    """int or float, also inside ``X | None`` and ``list[X]`` (bool, an int subclass, is not a number)."""
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        return any(_is_number(arg) for arg in typing.get_args(annotation))
    return False


def _numeric_params() -> Iterator[tuple[tuple[str, ...], typer.core.TyperOption]]:
    def walk(cmd: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], typer.core.TyperOption]]:
        for param in getattr(cmd, "params", []):
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and _is_number(descriptor.annotation):
                yield path, param
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(typer.main.get_command(app), ())


PARAMS = list(_numeric_params())


def _bad_values(bounds: Bounds) -> list[str]:
    values = ["nan", "NaN", "inf", "-inf", "1e999", "-1", "abc"]
    high = int(bounds.high) + 1 if bounds.integer else bounds.high * 2
    values.append(str(high))
    values.append(
        str(int(bounds.low)) if bounds.low_open else str(bounds.low - (1 if bounds.integer else 0.05))
    )
    if bounds.integer:
        values += ["1.5", "1e3", "0x10"]
    return values


CASES = [
    pytest.param(path, param.opts[0], value, id=f"{' '.join(path)} {param.opts[0]} {value}")
    for path, param in PARAMS
    if isinstance(param.type_descriptor.parameter_info.parser, NumberParser)
    for value in _bad_values(param.type_descriptor.parameter_info.parser.bounds)
]


def test_every_numeric_option_has_bounds() -> None:
    found = {(" ".join(path), param.opts[0]) for path, param in PARAMS}
    assert {
        ("monitor", "--duration"), ("monitor", "--connect-timeout"), ("monitor", "--clock-threshold-ms"),
        ("monitor", "--ntp-interval"), ("monitor", "--max-peers"), ("monitor", "--listen-port"),
        ("monitor", "--proof-candidates"), ("cases build", "--clock-threshold-ms"),
        ("cases build", "--min-hits"), ("cases build", "--min-vantages"), ("exhibits", "--min-vantages"),
        ("export", "--clock-threshold-ms"), ("demo", "--duration"),
        ("timestamp", "--timeout"),
        ("notices", "--smtp-port"), ("notices", "--smtp-timeout"), ("letters send", "--smtp-port"),
        ("letters draft", "--deadline-days"), ("letters remind", "--reminder-days"), ("isps add", "--asn"),
        ("isps request", "--request"), ("purge", "--ip-evidence-days"), ("purge", "--identity-months"),
    } <= found  # fmt: skip
    unchecked = [
        f"{' '.join(path)} {param.opts[0]}"
        for path, param in PARAMS
        if not isinstance(param.type_descriptor.parameter_info.parser, NumberParser)
        or param.type_descriptor.parameter_info.parser.option not in param.opts
    ]
    assert not unchecked, f"numeric options not declared with cli.numeric.number_option: {unchecked}"
    for path, param in PARAMS:
        bounds = param.type_descriptor.parameter_info.parser.bounds
        assert math.isfinite(bounds.low) and math.isfinite(bounds.high) and bounds.low < bounds.high
        assert bounds.describe() in " ".join((param.help or "").split()), (path, param.opts)


@pytest.mark.parametrize(("path", "option", "value"), CASES)
def test_bad_values_give_one_line_and_exit_1(
    path: tuple[str, ...], option: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = RUNNER.invoke(app, [*path, option, value, "--db", str(tmp_path / "new.db")])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], result.stderr
    assert "must be" in lines[0] and result.stdout == ""
    assert os.listdir(tmp_path) == []  # no database, key or bundle was created


def test_good_value_is_parsed_as_a_number() -> None:
    parser = NumberParser("--duration", Bounds(0, 10, "seconds", low_open=True))
    assert parser("2.5") == 2.5 and parser(" 10 ") == 10.0 and parser(3.0) == 3.0
    whole = NumberParser("--n", Bounds(1, 5, "", integer=True))
    assert whole("5") == 5 and isinstance(whole("5"), int)
    with pytest.raises(typer.BadParameter, match="must be a whole number, at least 1, at most 5"):
        whole("6")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e300])
def test_python_api_refuses_the_same_values(bad: float, tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    for kwargs in ({"duration": bad}, {"connect_timeout": bad}):
        with pytest.raises(InputError, match="must be more than 0"):
            run_monitor_command(targets=["unused.torrent"], db=str(db), **kwargs)  # type: ignore[arg-type]
    for field in ("ntp_interval", "clock_threshold_ms"):
        with pytest.raises(InputError, match=f"--{field.replace('_', '-')}"):
            EvidenceOptions(**{field: bad}).check()  # type: ignore[arg-type]
    assert not db.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["monitor", "x.torrent", "--duration", "nan"],
        ["monitor", "x.torrent", "--ntp-interval", "nan"],
        ["monitor", "x.torrent", "--clock-threshold-ms", "inf"],
        ["monitor", "x.torrent", "--connect-timeout", "-inf"],
        ["cases", "build", "--clock-threshold-ms", "nan"],
        ["cases", "build", "--min-span", "9" * 400 + "d"],
        ["export", "--out", "bundle", "--clock-threshold-ms", "nan"],
    ],
)
def test_nan_and_infinity_are_named_in_one_line(args: list[str], tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    result = RUNNER.invoke(app, [*args, "--db", str(db)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and args[-2] in lines[0] and "must be" in lines[0], result.stderr
    assert not db.exists()


@pytest.mark.parametrize("text", ["99999999999999999999999999", "-5", "253402300800000000"])
def test_utc_microseconds_outside_the_calendar_are_one_line(text: str, tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    base = ["isps", "add", "Loop", "--asn", "64500", "--abuse-email", "a@b.example", "--legal-address", "x"]
    assert RUNNER.invoke(app, [*base, "--db", str(db)]).exit_code == 0
    result = RUNNER.invoke(
        app, ["isps", "request", "Loop", "--status", "drafted", "--date", text, "--db", str(db)]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.splitlines() == [f"error: --date {text}: must be {UTC_US.describe()}"]
