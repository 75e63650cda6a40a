"""JSON that verify parses out of a sealed record or line by line: a run's settings and hits.jsonl.

The fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within bounded
time and memory, never a crash. A ``RunStarted`` record's ``settings_json`` is parsed by
``settings.settings_of`` (per observation and hit) and ``methodology._settings``; a ledger record may be
64 MiB, and a settings text nested deeper than the interpreter allows raised ``RecursionError`` out of
verify. A differing hits.jsonl was split into a list of every line before its first million were read
(``bytes.splitlines``): 8 MiB of newlines alone made 8 million bytes objects.
"""

from __future__ import annotations

import tracemalloc

import pytest

from swarmscope.evidence.bundle.methodology import _settings
from swarmscope.evidence.bundle.nodes_verify import _claimed
from swarmscope.evidence.bundle.settings import settings_of
from swarmscope.evidence.records import RunStarted

HOSTILE = 8 * 1024 * 1024


def _run(settings_json: str) -> RunStarted:
    return RunStarted(1, 1_800_000_000_000_000, "0.1.0", None, settings_json)


@pytest.mark.parametrize(
    "text",
    ["[" * 200_000, "{" + ",".join(f'"{i:06x}":0' for i in range(HOSTILE // 11)) + "}", " " * (5 << 20)],
    ids=["nested", "short distinct keys", "over 4 MiB"],
)
def test_hostile_run_settings_read_as_none_in_bounded_memory(text: str) -> None:
    run = _run(text)
    tracemalloc.start()
    try:
        assert settings_of(run) == {}
        assert _settings(run) == text  # the methodology quotes the text it could not read
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(text) + (1 << 20)


def test_genuine_run_settings_are_read_once_per_text() -> None:
    run = _run('{"capture":false,"clock_threshold_ms":40}')
    first = settings_of(run)
    assert first == {"capture": False, "clock_threshold_ms": 40}
    assert settings_of(run) is first


@pytest.mark.parametrize(
    "hits",
    [b"\n" * HOSTILE, b"{}\n" * (HOSTILE // 3), b'{"corroborated":true,"ip":"' + b"x" * HOSTILE + b'"}\n'],
    ids=["newlines", "empty objects", "one line over 64 KiB"],
)
def test_a_hostile_hits_file_is_read_line_by_line_in_bounded_memory(hits: bytes) -> None:
    tracemalloc.start()
    try:
        assert _claimed(hits, 4) == set()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak >> 20} MiB"


def test_claimed_lines_are_still_read() -> None:
    line = b'{"corroborated":true,"counted_port":6881,"infohash":"ab","ip":"192.0.2.7","node":"n"}'
    assert _claimed(line + b"\r\n" + line.replace(b"true", b"false"), 4) == {("192.0.2.7", 6881, "ab")}
