"""Smoke run of the ingest benchmark (bench/ingest.py) at a small N, on SQLite and on the test PostgreSQL
(``SWARMSCOPE_TEST_PG_URL``, started by tests/conftest.py): every phase's line and the verdict line, and
the scratch schema (the ceiling table included) dropped afterwards; the fleet phases with 2 concurrent writer
processes. No speed is asserted (the goal is
benchmarked, bench/README.md "Ingest")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
LINE = (
    r"{backend} +{phase} +300 rows +[\d.]+ s +[\d,]+ rows/s  "
    r"cpu client +[\d.]+ s server +({cpu}) s +({per}) rows/cpu-s  load +[\d.]+"
)


@pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
def test_ingest_benchmark_runs_every_phase_and_drops_its_schema() -> None:
    assert PG_URL is not None
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "ingest.py"),
        "--rows",
        "300",
        "--batch",
        "100",
        "--writers",
        "2",
        "--pg",
        PG_URL,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0].startswith("load average at start ")
    for line, backend, phase in zip(
        lines[1:8],
        ["sqlite", "sqlite", *["postgresql"] * 5],
        ["seal", "insert", "seal", "insert", "ceiling", "seal x2", "insert x2"],
        strict=True,
    ):
        cpu, per = (r"-", r"-") if backend == "sqlite" else (r"[\d.]+", r"[\d,]+")
        assert re.fullmatch(LINE.format(backend=backend, phase=phase, cpu=cpu, per=per), line), line
    assert re.fullmatch(
        r"verdict: PostgreSQL insert [\d,]+ rows/s \((2 concurrent writers|one writer), load [\d.]+\), "
        r"goal 100,000 rows/s (met|NOT met); one writer [\d,]+ rows/s; "
        r"ceiling \(one writer, unlogged, no index\) [\d,]+ rows/s",
        lines[8],
    )
    engine = sa.create_engine(PG_URL)
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
