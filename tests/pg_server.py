"""A scratch PostgreSQL server for the test session: Debian's own binaries, a Unix socket, no TCP.

The brief asks that ``make test`` on a fresh machine run the PostgreSQL tests instead of skipping them, so
the test session starts its own server unless ``SWARMSCOPE_TEST_PG_URL`` already names one (CI or a
developer's server) or ``SWARMSCOPE_TEST_PG=0``. The server lives in a fresh temporary directory
(``initdb -A trust``; ``listen_addresses=''`` so it never opens a network socket; ``fsync=off`` because the
data is thrown away), serves one empty database ``swarmscope_test``, and is stopped by its postmaster PID
when the session ends (``pg_ctl stop -m immediate``, then SIGKILL of that PID if it is still there).

As root the server runs as the ``postgres`` account that Debian's ``postgresql`` package creates
(PostgreSQL refuses to run as root), through util-linux ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swarmscope.store.scratch import drop_schema as drop_schema  # the tests' reset, shared with bench/

DATABASE = "swarmscope_test"
_START_TIMEOUT_S = 60


@dataclass
class ScratchPostgres:
    """A running scratch server: its directory (socket and data), binaries and postmaster PID."""

    directory: Path
    bin_dir: Path
    pid: int
    as_user: str | None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the scratch database over the Unix socket."""
        return f"postgresql+psycopg://postgres@/{DATABASE}?host={self.directory}"

    def stop(self) -> None:
        """Stop the server (immediate shutdown), kill its PID if it lingers, remove its directory."""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _run(self, "pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")
        if self.pid > 0:  # never 0: os.kill(0, ...) would signal our own process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self, mode: str = "immediate") -> None:
        """``pg_ctl restart -m MODE -w`` (same options): every session is cut; waits until it accepts again.

        ``immediate`` is a crash of the server (no shutdown checkpoint, crash recovery at start); ``fast``
        rolls back open transactions and shuts down cleanly. The new postmaster PID is kept for :meth:`stop`.
        """
        data, log = str(self.directory / "data"), str(self.directory / "log")
        _run(self, "pg_ctl", "-D", data, "-l", log, "-m", mode, "-w", "restart")
        self.pid = int((self.directory / "data" / "postmaster.pid").read_text().split()[0])


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` holding initdb and pg_ctl (or $SWARMSCOPE_PG_BIN)."""
    override = os.environ.get("SWARMSCOPE_PG_BIN")
    candidates = (
        [override]
        if override
        else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0))
    )
    for found in reversed(candidates):
        path = Path(found)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def _run(server: ScratchPostgres, tool: str, *args: str) -> None:
    command = [str(server.bin_dir / tool), *args]
    if server.as_user is not None:
        command = ["runuser", "-u", server.as_user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=_START_TIMEOUT_S)


def start() -> ScratchPostgres | None:
    """Start a scratch server, or None when no PostgreSQL server binaries (or no postgres account) exist.

    Raises:
        subprocess.CalledProcessError: initdb, pg_ctl or createdb failed (the server log is kept in the
            directory named by the error's command).
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return None
    as_user = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            return None
        as_user = account.pw_name
    directory = Path(tempfile.mkdtemp(prefix="swarmscope-test-pg."))
    if as_user is not None:
        os.chown(directory, account.pw_uid, account.pw_gid)
    server = ScratchPostgres(directory, bin_dir, 0, as_user)
    data = str(directory / "data")
    options = f"-k {directory} -c listen_addresses='' -c fsync=off -c max_connections=200"
    try:
        _run(server, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-N")
        _run(server, "pg_ctl", "-D", data, "-o", options, "-l", str(directory / "log"), "-w", "start")
        server.pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])
        _run(server, "createdb", "-h", str(directory), "-U", "postgres", DATABASE)
    except BaseException:
        server.stop()
        raise
    return server


def backend_url(backend: str, tmp_path: Path) -> str:
    """The store URL of a ``sqlite`` / ``postgresql`` test parameter (skips without a PostgreSQL server)."""
    import pytest

    if backend == "sqlite":
        return str(tmp_path / "evidence.db")
    url = os.environ.get("SWARMSCOPE_TEST_PG_URL")
    if not url:
        pytest.skip("set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
    return url
