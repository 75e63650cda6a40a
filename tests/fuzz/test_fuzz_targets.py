"""Every parser's fuzz target under hypothesis: decode or raise the protocol's own error, nothing else.

The targets and their rule are in :mod:`tests.fuzz.targets` (the same functions ``make fuzz`` runs under
atheris). Inputs here are the seeds of :mod:`tests.fuzz.seeds` (valid encodings and every committed
regression vector) with a few byte-level mutations, or plain random bytes; examples stay few so
``make test`` stays fast — the long runs are atheris's job. The committed crashers under
tests/fuzz/vectors/<target>/ are replayed one by one, each with its provenance in that folder's README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.wire.mse import _Machine
from swarmscope.wire.mse_cipher import MseStream
from tests.fuzz.seeds import VECTORS, seeds_for, vectors_for
from tests.fuzz.targets import TARGETS, Crash, Target, check

MUTATIONS = ("flip", "insert", "delete", "truncate", "duplicate")


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    """A seed of ``name`` with 0-4 byte-level mutations (the moves a coverage fuzzer makes)."""
    data = bytearray(draw(st.sampled_from(seeds_for(name))))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(MUTATIONS))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


def inputs(name: str) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(name), st.binary(max_size=300))


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_target_decodes_or_raises_its_own_error(name: str, data: st.DataObject) -> None:
    check(TARGETS[name], data.draw(inputs(name), label="input"))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_passes(name: str) -> None:
    """The seeds themselves keep the rule (a fixture that crashes a parser would be a finding too)."""
    seeds = seeds_for(name)
    assert seeds, f"{name}: no seed"
    for seed in seeds:
        check(TARGETS[name], seed)


def test_check_catches_foreign_errors_and_slow_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule itself: an allowed error passes, any other exception and a slow input are crashes."""

    def broken(data: bytes) -> None:
        if data == b"key":
            raise KeyError("x")
        if data == b"slow":
            monkeypatch.setattr("tests.fuzz.targets.MAX_SECONDS", -1.0)
        raise ValueError("allowed")

    target = Target("broken", broken, (ValueError,))
    check(target, b"fine")
    with pytest.raises(Crash, match="KeyError"):
        check(target, b"key")
    with pytest.raises(Crash, match="s on one input"):
        check(target, b"slow")


def _vector_files() -> list[Path]:
    return [p for name in sorted(TARGETS) for p in vectors_for(name)]


@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regression_vector_replays(path: Path) -> None:
    """A crasher atheris found, replayed against the fixed parser (provenance: the folder's README.md)."""
    readme = path.parent / "README.md"
    assert readme.is_file() and path.name in readme.read_text(), f"{path}: no provenance in {readme}"
    check(TARGETS[path.parent.name], path.read_bytes())


def test_vector_folders_name_targets() -> None:
    folders = {p.name for p in VECTORS.iterdir() if p.is_dir()} if VECTORS.is_dir() else set()
    assert folders <= set(TARGETS), f"vectors for unknown targets: {sorted(folders - set(TARGETS))}"


@pytest.mark.parametrize("name", ["mse_responder", "mse_initiator", "mse_step3"])
def test_mse_targets_segment_the_handshake_not_the_stream(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """1-byte segments cut the handshake; the stream after it is decrypted in one call, all of it (cutting
    60 KiB of stream per byte made such inputs ~100 times slower under atheris and parsed nothing)."""
    calls: list[int] = []
    real = MseStream.decrypt
    monkeypatch.setattr(MseStream, "decrypt", lambda self, data: calls.append(len(data)) or real(self, data))
    received: list[int] = []
    real_receive = _Machine.receive
    monkeypatch.setattr(
        _Machine, "receive", lambda self, data: received.append(len(data)) or real_receive(self, data)
    )
    seed = max(seeds_for(name), key=len)
    check(TARGETS[name], b"\x00" + seed[1:] + bytes(60_000))
    assert received and set(received) == {1}, "the handshake is fed byte by byte"
    assert len(calls) == 2 and calls[-1] >= 60_000, f"stream decrypts: {calls[:5]}"


@pytest.mark.parametrize("args", [["--seconds", "-5"], ["--seconds", "0"], ["--runs", "-1"]])
def test_the_fuzz_runner_refuses_a_count_that_would_run_nothing(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``make fuzz`` with a negative time or count runs 0 inputs: one line and exit 1, not a clean table."""
    from tests.fuzz.run import main

    assert main(["bencode", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fuzz: {args[0]} {args[1]}:") and err.count("\n") == 1
