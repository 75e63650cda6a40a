"""Members named on values, against crafted dodges (docs/architecture.md, "Rules"): a connection opener
or process starter is judged by its name on any owner, also through a literal ``getattr``; a command may
not call the shared Typer app; a pure module may not reach I/O, clock or randomness through the names an
allowed library still holds (``warnings.formatwarning``, ``base64.main``, Fernet, randomized signatures,
salted ``hash()``, string annotations evaluated by ``get_type_hints``, the local time zone).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_network import connection_problems, ownership_problems
from tests.architecture_purity import purity_problems


def _module(tmp_path: Path, rel: str, source: str) -> tuple[Path, Path]:
    root = tmp_path / "swarmscope"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path, root


def test_an_opener_reached_by_a_literal_getattr_on_a_loop_is_refused(tmp_path: Path) -> None:
    bad, root = _module(tmp_path, "monitor/d5.py", (
        "import asyncio\nasync def f(host):\n    loop = asyncio.get_running_loop()\n"
        "    return await getattr(loop, 'create_connection')(asyncio.Protocol, host, 6881)\n"
    ))  # fmt: skip
    assert connection_problems(bad, root) == [
        "line 4: uses .create_connection; only ['net', 'testbed'] open sockets"
    ]


def test_a_process_started_by_a_loop_method_is_refused(tmp_path: Path) -> None:
    bad, root = _module(tmp_path, "cases/d6.py", (
        "import asyncio\nasync def f(host, loop):\n"
        "    await loop.subprocess_shell(asyncio.SubprocessProtocol, 'curl ' + host)\n"
        "    return await getattr(loop, 'subprocess_exec')(asyncio.SubprocessProtocol, 'curl', host)\n"
    ))  # fmt: skip
    assert ownership_problems(bad, root) == [
        "line 3: .subprocess_shell starts a process; only ['netns', 'testbed'] do",
        "line 4: .subprocess_exec starts a process; only ['netns', 'testbed'] do",
    ]


def test_a_command_calling_the_shared_app_is_refused(tmp_path: Path) -> None:
    bad, root = _module(tmp_path, "cli/d7.py", (
        "import functools\nfrom swarmscope.cli.app import app\n@app.command('dispute')\n"
        "def dispute(case_id: int) -> None:\n"
        "    app(['letters', 'send', str(case_id)], standalone_mode=False)\n"
        "    functools.partial(app, ['letters'])()\n"
    ))  # fmt: skip
    (root / "cli/app.py").write_text("import typer\napp = typer.Typer()\n")
    tail = "uses the shared app itself, which runs any command; call a workflow action in cases/ instead"
    assert cli_import_problems(bad, root) == [f"line 5: {tail}", f"line 6: {tail}"]


def test_pure_code_reaches_no_world_through_allowed_libraries(tmp_path: Path) -> None:
    bad, root = _module(tmp_path, "evidence/d11.py", (
        "import base64, typing, warnings\n"
        "from cryptography.fernet import Fernet\n"
        "from cryptography.hazmat.primitives.asymmetric import dh, ec\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "def f(sock, key, ec_key, ed_key, data, stamp, g, datetime):\n"
        "    getattr(sock, 'sendall')(data)\n"
        "    line = warnings.formatwarning('', UserWarning, '/etc/passwd', 1)\n"
        "    base64.main()\n"
        "    token = Fernet(key).encrypt(data)\n"
        "    sig = ec_key.sign(data, ec.ECDSA(hashes.SHA256()))\n"
        "    params = dh.generate_parameters(2, 512)\n"
        "    seed = hash(data.decode())\n"
        "    hints = typing.get_type_hints(g)\n"
        "    local = stamp.astimezone(), datetime.fromtimestamp(1)\n"
        "    return ed_key.sign(data), base64.b32decode(data), stamp.astimezone(datetime.UTC)\n"
    ))  # fmt: skip
    assert purity_problems(bad, root) == [
        "line 2: imports cryptography.fernet",
        "line 2: imports cryptography.fernet.Fernet",
        "line 3: imports cryptography.hazmat.primitives.asymmetric.dh",
        "line 6: calls .sendall() (socket I/O)",
        "line 7: calls warnings.formatwarning()",
        "line 8: calls base64.main()",
        "line 9: calls cryptography.fernet.Fernet()",
        "line 10: calls .sign() with an algorithm (a randomized signature)",
        "line 11: calls cryptography.hazmat.primitives.asymmetric.dh.generate_parameters()",
        "line 12: calls hash()",
        "line 13: calls typing.get_type_hints()",
        "line 14: calls .astimezone() without a time zone (the local zone)",
        "line 14: calls .fromtimestamp() without a time zone (the local zone)",
    ]
