"""A child process of the monitor (the writer, a probe process) starts through ``child_main``: the cyclic
collector off from the first import, and only the modules a child uses (no HTTP client, no DHT node).
The writer and probe processes themselves run for real in tests/monitor/test_writer_process.py,
tests/monitor/test_probe_processes.py and tests/test_bench_hurtlocker.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import swarmscope
from swarmscope.monitor import child_main
from swarmscope.monitor.writer_process import spawn_child

SRC = str(Path(swarmscope.__file__).resolve().parent.parent)


def _fresh(code: str) -> str:
    """stdout of ``code`` run by a fresh interpreter on these sources."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": SRC}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_probe_process_imports_no_http_client_and_no_dht_node() -> None:
    loaded = _fresh(
        "import sys, swarmscope.monitor.probe_main, swarmscope.monitor.writer_main\n"
        "print(' '.join(m for m in ('httpx', 'swarmscope.net.dht_node', 'alembic') if m in sys.modules))"
    )
    assert loaded == ""


def test_the_modules_that_use_them_import_them() -> None:
    loaded = _fresh(
        "import sys\n"
        "from swarmscope.monitor.dht_discovery import DhtDiscovery\n"
        "d = DhtDiscovery(bind=('127.0.0.1', 0), bootstrap=[], infohashes=[], on_peers=print,\n"
        "                 announce_port=None)\n"
        "print(type(d.node).__module__, 'httpx' in sys.modules)"
    )
    assert loaded == "swarmscope.net.dht_node False"


def test_the_child_runs_with_the_collector_off_until_its_main() -> None:
    out = _fresh(
        "import gc, sys, types\n"
        "from swarmscope.monitor import child_main\n"
        "m = types.ModuleType('swarmscope.monitor.writer_main')\n"
        "m.main = lambda: print(gc.isenabled()) or 7\n"
        "sys.modules[m.__name__] = m\n"
        "print(child_main.main(['child_main', m.__name__]))"
    )
    assert out.split() == ["False", "7"]


def test_an_unknown_module_is_one_line_and_status_1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "swarmscope.monitor.child_main", "os"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": SRC},
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: child_main runs one of")
    assert child_main.main(["child_main"]) == 1


def test_spawn_child_names_the_module_on_the_command_line() -> None:
    proc = spawn_child("swarmscope.monitor.writer_main")
    try:
        assert proc.args[-2:] == ["swarmscope.monitor.child_main", "swarmscope.monitor.writer_main"]
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()  # no hello: the writer ends with status 0
        assert proc.wait(60) == 0
        proc.stdout.close()
