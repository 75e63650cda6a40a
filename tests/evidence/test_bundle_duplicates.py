"""A bundle carrying two observations of one wire capture does not verify (one probe, one capture).

The duplicate here is honestly signed: the same observation appended again and sealed in a later batch by
the node key itself, so only the duplicate check can catch it.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from swarmscope.cli.verify import run_verify
from swarmscope.evidence.bundle.verify import verify_bundle
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from tests.evidence.test_bundle import KEY, build, make_world, seal_ledger

FINGERPRINT = key_fingerprint(public_key_raw(KEY))


def duplicated_files() -> tuple[dict[str, bytes], int, int]:
    """The test world plus its first observation re-sealed at the end: (files, first index, copy index)."""
    world = make_world()
    first = next(i for i, r in enumerate(world.records) if isinstance(r, Observation))
    records = [*world.records, world.records[first]]
    entries, batches = seal_ledger(records)
    return build(replace(world, records=records, entries=entries, batches=batches)), first, len(records) - 1


def test_two_observations_with_one_capture_are_a_problem() -> None:
    files, first, copy = duplicated_files()
    verdict = verify_bundle(files, expect_key=FINGERPRINT)
    assert not verdict.ok
    (problem,) = [p for p in verdict.problems if "duplicate" in p.message]
    assert problem.check == "capture replay" and problem.file.startswith("captures/")
    assert problem.record is not None and problem.record.index == copy
    assert f"chain index {first} carries the same capture" in problem.message
    assert [p for p in verdict.problems if p is not problem] == []  # everything else holds


def test_verify_command_exits_1_and_names_the_duplicate(tmp_path: Path) -> None:
    files, _first, copy = duplicated_files()
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    out = io.StringIO()
    status = run_verify(
        tmp_path, expect_key=FINGERPRINT, console=Console(file=out, width=400, color_system=None)
    )
    assert status == 1 and "duplicate" in out.getvalue() and f"index {copy}" in out.getvalue()
