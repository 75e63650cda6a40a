"""``swarmscope demo --serve`` without the swarm: where the console listens, a taken port, the admin.

The run with the real swarm is ``tests/testbed/test_demo.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from typer.testing import CliRunner

import swarmscope.cli.demo as demo_cli
import swarmscope.cli.demo_console as demo_console
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.access import users as user_store
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from swarmscope.web import accounts
from swarmscope.web.app import create_app
from swarmscope.web.passwords import check_password
from swarmscope.web.settings import WebSettings
from tests.web.conftest import NOW, asgi_client
from tests.web.demo_console import free_port
from tests.web.test_auth import login

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "swarmscope.cli"]

register_commands()  # as the swarmscope entry point does
KEY = Ed25519PrivateKey.generate()  # the demo's node key: the admin account is sealed with it


@pytest.mark.netns
def test_the_console_listens_where_the_command_started_not_in_the_demos_namespace(
    netns: bool, tmp_path: Path
) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) (util-linux)")
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, "-m", "tests.web.demo_ns_helper", str(db), str(free_port())],
        capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "entered a private network namespace" in seen["output"]
    assert seen["demo_moved"]  # the demo ran in a namespace of its own, and yet we reached its console
    assert [(w["title"], w["client"]) for w in seen["works"]] == [("demo-content.bin", "Demo Pictures")]
    assert [t["infohash"] for t in seen["works"][0]["torrents"]] == ["ab" * 20]
    assert seen["status"] == 0 and "the web console stopped" in seen["output"]  # SIGTERM: a clean stop


def test_a_taken_port_is_refused_before_the_demo_runs(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.run(
            [*CLI, "demo", "--serve", "--port", str(port), "--db", str(tmp_path / "demo.db")],
            capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout.strip() == f"error: --port {port} on 127.0.0.1: cannot listen: Address already in use"
    assert time.monotonic() - started < 30 and not (tmp_path / "demo.db").exists()


def test_the_one_time_admin_password_is_new_each_time_and_only_hashed(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "demo.db"), node_key=KEY, now_us=NOW) as store:
        first = accounts.one_time_admin(store, "demo-admin", NOW)
        second = accounts.one_time_admin(store, "demo-admin", NOW + 1)
        user = user_store.get_user(store, "demo-admin")
    assert first != second and len(second) >= 20 and user.role == "admin" and user.client is None
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert check_password(user.password_hash, second) and not check_password(user.password_hash, first)
    assert second.encode() not in (tmp_path / "demo.db").read_bytes()


def test_an_existing_user_of_that_name_that_is_not_an_active_admin_is_left_alone(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "demo.db"), node_key=KEY, now_us=NOW) as store:
        accounts.add_user(store, "demo-admin", "viewer", None, "a long enough password", NOW)
        with pytest.raises(accounts.InputError, match="exists but is not an active admin"):
            accounts.one_time_admin(store, "demo-admin", NOW)
        user = user_store.get_user(store, "demo-admin")
    assert user.role == "viewer" and check_password(user.password_hash, "a long enough password")


@pytest.mark.parametrize("port", ["9999", "8080"])
def test_a_port_without_serve_is_refused_before_the_demo_runs(
    port: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--port`` only says where ``--serve`` listens: alone it is refused, even when it names the default."""
    ran: list[str] = []

    def must_not_run(*_args: object) -> None:
        ran.append("demo")
        pytest.fail("the demo ran")

    monkeypatch.setattr(demo_cli, "_isolate", lambda _console: ran.append("isolate"))
    monkeypatch.setattr(demo_cli, "run_demo", must_not_run)
    result = CliRunner().invoke(app, ["demo", "--port", port, "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Invalid value for '--port': only with --serve (the console's port)"
        " (see 'swarmscope demo --help')"
    ]
    assert ran == [] and not (tmp_path / "demo.db").exists()


async def test_the_demo_console_holds_the_demos_node_key_and_checks_account_seals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dataclass
    class Finished:
        db: str
        infohash: str = "ab" * 20
        name: str = "demo-content.mkv"

    db = str(tmp_path / "demo.db")
    key = open_node_key(default_key_path(db))  # the demo's monitor made it beside the database
    open_store(db).close()
    served: list[WebSettings] = []

    def fake_serve(settings: WebSettings, announce: Callable[[str], None], sock: object) -> None:
        served.append(settings)
        announce("http://127.0.0.1:1/")

    monkeypatch.setattr(demo_console, "serve", fake_serve)
    out = io.StringIO()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        demo_console.demo_console(Finished(db), sock, Console(file=out, width=200))  # type: ignore[arg-type]
    (settings,) = served
    assert settings.node_key is not None
    assert settings.node_key.private_bytes_raw() == key.key.private_bytes_raw()
    assert settings.witness == Path(f"{default_key_path(db)}.head")
    password = re.search(r"one-time password (\S+)", out.getvalue())
    assert password is not None
    with open_store(db, create=False, node_key=key.key, now_us=NOW) as store:  # a console seals its sessions
        client = asgi_client(create_app(settings, store=store))
        assert (await login(client, "demo-admin", password.group(1))).status_code == 303  # its seal holds
        await client.aclose()
