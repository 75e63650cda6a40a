"""``make fuzz``: run every target of :mod:`tests.fuzz.targets` under atheris (coverage-guided libFuzzer).

Usage::

    python -m tests.fuzz.run [--seconds N] [--runs M] [--workdir DIR] [TARGET ...]

Each target runs ``N`` seconds (default 60), or until ``M`` inputs have run when ``--runs`` is given and
that comes first, in a child process; a crash ends libFuzzer's run, so the child is restarted with the
seconds (and inputs) left and the corpus it grew. Per target it prints the inputs run and the
crashes found, and every crasher is kept as ``DIR/crashers/<target>/crash-<sha1>`` (libFuzzer's artifact
name). Bounds: ``-timeout`` 10 s per input and ``-rss_limit_mb`` 2048 (libFuzzer flags); the target's own
rule (its allowed errors) is in :func:`tests.fuzz.targets.check`.

Source: atheris README ("Using Atheris": Setup, Fuzz, instrument_imports); libFuzzer flags (LLVM docs).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for real after atheris instruments swarmscope (see _child)
    from tests.fuzz.targets import Target

COUNT_EVERY = 4096  # inputs between two writes of the child's counter file
TIMEOUT_S = 10
RSS_LIMIT_MB = 2048


def _child(name: str, seconds: int, workdir: Path, runs: int) -> None:
    """Fuzz one target in this process (never returns: libFuzzer exits)."""
    import atheris

    with atheris.instrument_imports(include=["swarmscope"]):
        from tests.fuzz import targets
    targets.memoise_dh()
    target = targets.TARGETS[name]
    _warm(target, name)
    counter = workdir / "counts" / name
    count = [0]

    def one(data: bytes) -> None:
        count[0] += 1
        if count[0] % COUNT_EVERY == 0:
            counter.write_text(str(count[0]))
        try:
            targets.check(target, data)
        except BaseException:
            counter.write_text(str(count[0]))
            raise

    crashers = workdir / "crashers" / name
    argv = [sys.argv[0], str(workdir / "corpus" / name), f"-max_total_time={seconds}",
            f"-artifact_prefix={crashers}/", f"-timeout={TIMEOUT_S}", f"-rss_limit_mb={RSS_LIMIT_MB}",
            "-print_final_stats=1", "-max_len=65536"]  # fmt: skip
    if runs > 0:
        argv.append(f"-runs={runs}")  # libFuzzer: stop after this many inputs
    atheris.Setup(argv, one)
    atheris.Fuzz()


def _warm(target: Target, name: str) -> None:
    """Run the target once on its first seed, untimed: the bundle targets build and verify their valid
    bundle on first use (seconds, instrumented, on a loaded machine), which the first timed input would
    otherwise pay and be reported as a slow input."""
    from tests.fuzz.seeds import seeds_for

    with contextlib.suppress(*target.allowed):
        target.run(seeds_for(name)[0])


def _write_seeds(name: str, workdir: Path) -> None:
    from tests.fuzz.seeds import seeds_for

    corpus = workdir / "corpus" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds_for(name)):
        (corpus / f"seed-{i:03d}").write_bytes(seed)
    (workdir / "crashers" / name).mkdir(parents=True, exist_ok=True)
    (workdir / "counts").mkdir(parents=True, exist_ok=True)


def _run_target(name: str, seconds: int, workdir: Path, runs: int = 0) -> tuple[int, list[Path]]:
    """Fuzz ``name`` for ``seconds`` of wall time or ``runs`` inputs (0: no count bound), whichever ends
    first; returns (inputs run, crasher files)."""
    _write_seeds(name, workdir)
    deadline, total = time.monotonic() + seconds, 0
    log = workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        while (left := int(deadline - time.monotonic())) > 0 and (runs <= 0 or total < runs):
            counter = workdir / "counts" / name
            counter.write_text("0")
            cmd = [sys.executable, "-m", "tests.fuzz.run", "--child", name, "--seconds", str(left),
                   "--workdir", str(workdir), "--runs", str(runs - total if runs > 0 else 0)]  # fmt: skip
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, check=False)
            out.write(proc.stderr)
            stats = re.findall(rb"stat::number_of_executed_units: (\d+)", proc.stderr)
            total += max([int(counter.read_text() or 0), *(int(s) for s in stats)])
            if proc.returncode == 0 or b"Test unit written" not in proc.stderr:
                break  # time used up (or libFuzzer refused to start: its reason is in the log)
    return total, sorted((workdir / "crashers" / name).glob("*"))


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--child" in sys.argv:  # before any swarmscope import: atheris instruments them

        def flag(name: str) -> str:
            return sys.argv[sys.argv.index(name) + 1]

        _child(flag("--child"), int(flag("--seconds")), Path(flag("--workdir")), int(flag("--runs")))
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=int, default=60, help="wall seconds per target (default 60)")
    parser.add_argument("--runs", type=int, default=0, help="stop a target after this many inputs (0: none)")
    parser.add_argument("--workdir", type=Path, default=Path(".fuzz"), help="corpus, crashers, logs")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.runs < 0:
        bad = f"--seconds {args.seconds}" if args.seconds < 1 else f"--runs {args.runs}"
        print(f"fuzz: {bad}: --seconds must be at least 1, --runs at least 0 (0: no limit)", file=sys.stderr)
        return 1
    workdir = args.workdir.resolve()
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        print(f"fuzz: unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}", file=sys.stderr)
        return 1
    found = 0
    print(f"{'target':16} {'inputs run':>12} {'crashes':>8}  crashers ({workdir}/crashers)")
    for name in args.targets or list(TARGETS):
        inputs, crashers = _run_target(name, args.seconds, workdir, args.runs)
        found += len(crashers)
        names = " ".join(p.name for p in crashers)
        print(f"{name:16} {inputs:>12} {len(crashers):>8}  {names}", flush=True)
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
