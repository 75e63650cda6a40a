"""``@gated``: a command's ``gate: Gate`` parameter reaches Typer as the seven gate options, then one Gate."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer
from typer.testing import CliRunner

from swarmscope.cli.document_gate import Gate, gated

GATE_OPTIONS = [
    "node_key",
    "trust_key",
    "min_hits",
    "min_span",
    "allow_flag",
    "min_vantages",
    "clock_threshold_ms",
]


def _app(seen: list[tuple[str, Gate]]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @gated
    def probe(case: Annotated[str, typer.Argument(help="A case.")], *, gate: Gate) -> None:
        """Record what the command was handed."""
        seen.append((case, gate))

    return app


def test_gate_parameter_becomes_the_seven_options_in_order() -> None:
    @gated
    def command(case: str, *, gate: Gate) -> str:
        return case

    names = list(inspect.signature(command).parameters)
    assert names == ["case", *GATE_OPTIONS]
    assert command.__name__ == "command"


def test_option_values_reach_the_command_as_one_gate(tmp_path: Path) -> None:
    seen: list[tuple[str, Gate]] = []
    key = tmp_path / "node.pem"
    args = ["DOE-1", "--node-key", str(key), "--trust-key", "ab" * 32, "--min-hits", "5", "--min-span", "2h",
            "--allow-flag", "vpn", "--min-vantages", "2", "--clock-threshold-ms", "250"]  # fmt: skip
    result = CliRunner().invoke(_app(seen), args)
    assert result.exit_code == 0, result.output
    assert seen == [("DOE-1", Gate(key, ["ab" * 32], 5, "2h", ["vpn"], 2, 250.0))]
    policy = seen[0][1].policy()
    assert (policy.thresholds.min_hits, policy.thresholds.min_span_us) == (5, 7_200_000_000)
    assert policy.thresholds.min_vantages == 2
    assert policy.clock_threshold_us == 250_000


def test_defaults_are_the_court_tested_thresholds() -> None:
    seen: list[tuple[str, Gate]] = []
    result = CliRunner().invoke(_app(seen), ["DOE-2"])
    assert result.exit_code == 0, result.output
    assert seen == [("DOE-2", Gate(None, None, 3, "1h", None, 1, None))]
