"""The ownership, command and room rules against the second review's dodges (docs/architecture.md,
"Rules"): libraries that talk to the network but were on no deny-list, a process running curl, a command
reached through Typer's registry, and a store core module other than the opener relaying a room. Each
crafted module must be caught.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_exports import reexport_problems
from tests.architecture_network import ownership_problems
from tests.room_rules import room_problems


def _module(tmp_path: Path, rel: str, source: str) -> Path:
    """Write a crafted module at ``swarmscope/<rel>`` under tmp_path; returns its path."""
    path = tmp_path / "swarmscope" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


NETWORK_BY_OTHER_MEANS = """\
import libtorrent
import asyncpg
from multiprocessing.connection import Client
import logging.handlers
import subprocess
import asyncio, os, uuid

async def f(host):
    logging.handlers.SMTPHandler(host, "a", ["b"], "s")
    subprocess.run(["curl", host])
    os.system("wget " + host)
    uuid.os.popen("curl " + host)
    await asyncio.create_subprocess_exec("curl", host)
"""


def test_only_the_owners_import_what_talks_to_the_network(tmp_path: Path) -> None:
    """An allow-list per package: libtorrent, asyncpg, ``multiprocessing.connection``, logging's network
    handlers and subprocess fail outside their owners, and so does starting a process through os/asyncio."""
    root = tmp_path / "swarmscope"
    bad = _module(tmp_path, "cases/leak.py", NETWORK_BY_OTHER_MEANS)
    nobody = "is on no allow-list (SHARED_IMPORTS, PACKAGE_IMPORTS)"
    processes = "starts a process; only ['netns', 'testbed'] do"
    assert ownership_problems(bad, root) == [
        "line 1: libtorrent is owned by ['testbed']",
        f"line 2: asyncpg {nobody}",
        f"line 3: multiprocessing {nobody}",
        f"line 4: logging.handlers {nobody}",
        "line 5: subprocess is owned by ['netns', 'testbed']",
        f"line 11: os.system {processes}",
        f"line 12: uuid.os.popen {processes}",
        f"line 13: asyncio.create_subprocess_exec {processes}",
    ]
    testbed = _module(tmp_path, "testbed/peers.py", "import libtorrent, subprocess\nsubprocess.run\n")
    assert ownership_problems(testbed, root) == []


def test_a_network_module_reached_through_an_allowed_one(tmp_path: Path) -> None:
    """``logging`` is shared, ``logging.handlers`` (SMTP, socket and HTTP handlers) is not: reaching it as
    an attribute is the same as importing it."""
    source = "import logging\n\ndef f(host):\n    return logging.handlers.SocketHandler(host, 9020)\n"
    bad = _module(tmp_path, "monitor/log.py", source)
    assert ownership_problems(bad, tmp_path / "swarmscope") == [
        "line 4: logging.handlers is on no allow-list (SHARED_IMPORTS, PACKAGE_IMPORTS)"
    ]


REGISTRY = """\
import typer.main
from swarmscope.cli.app import app

@app.command("dispute")
def dispute(ctx):
    app.registered_commands[0].callback()
    typer.main.get_command(app)
    ctx.find_root().command.commands["letters"]
    return app.registered_groups
"""


def test_a_command_calling_another_through_the_registry(tmp_path: Path) -> None:
    """``app.registered_commands[...]`` (or the click group behind the app) reaches every command without
    importing one; a command module may only register itself on the app."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "cli/app.py", "import typer\napp = typer.Typer()\n")
    bad = _module(tmp_path, "cli/disputes.py", REGISTRY)
    tail = "reaches the command registry; call a workflow action in cases/ instead"
    assert cli_import_problems(bad, root) == [
        f"line 6: app.registered_commands {tail}",
        "line 7: uses the shared app itself, which runs any command; call a workflow action in cases/ "
        "instead",
        f"line 7: typer.main.get_command {tail}",
        f"line 8: .commands {tail}",
        f"line 8: .find_root {tail}",
        f"line 9: app.registered_groups {tail}",
    ]


def test_only_the_opener_of_the_store_imports_its_rooms(tmp_path: Path) -> None:
    """Every core module of store/ but database.py is held to the room order (a core module importing a
    room could relay it to a room below)."""
    root = tmp_path / "swarmscope"
    order = "against the room order ('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    relay = _module(tmp_path, "store/metadata.py", "from swarmscope.store.legal import cases\n")
    assert room_problems(relay, root) == [
        f"line 1: store.metadata imports swarmscope.store.legal.cases, {order}"
    ]
    ports = _module(tmp_path, "store/ports.py", "def f():\n    from swarmscope.store.ledger import proven\n")
    assert room_problems(ports, root) == [
        f"line 2: store.ports imports swarmscope.store.ledger.proven, {order}"
    ]
    opener = _module(tmp_path, "store/database.py", "from swarmscope.store.legal import schema\n")
    assert room_problems(opener, root) == []


RELAY = """\
from typing import Any

from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal import case_rows
from swarmscope.store.legal.case_status import get_case as get_case

Row = case_rows.CaseRow
__all__ = ["CaseRow", "Any", "upsert"]

def upsert():
    return CaseRow
"""


def test_a_name_is_imported_from_the_module_that_defines_it(tmp_path: Path) -> None:
    """A module that hands on another's names (by import, by assignment, by ``__all__`` or ``import x as
    x``) is a second address for them; importing from it, by name or through the module, is refused."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "store/legal/case_rows.py", "class CaseRow:\n    pass\n")
    _module(tmp_path, "store/legal/case_status.py", "def get_case():\n    pass\n")
    relay = _module(tmp_path, "store/legal/cases.py", RELAY)
    assert reexport_problems(relay, root) == [
        "line 5: `import get_case as get_case` re-exports get_case",
        "line 8: __all__ re-exports CaseRow",
        "line 8: __all__ re-exports Any",
    ]
    source = (
        "from swarmscope.store.legal.cases import CaseRow, upsert\n"
        "from swarmscope.store.legal import cases\n"
        "def f():\n    return cases.get_case(), cases.Row, cases.upsert(), cases.Any\n"
    )
    user = _module(tmp_path, "store/legal/letters.py", source)
    tail = "; import it from where it is defined"
    assert reexport_problems(user, root) == [
        f"line 1: CaseRow is re-exported by swarmscope.store.legal.cases{tail} "
        "(swarmscope.store.legal.case_rows.CaseRow)",
        f"line 4: Any is re-exported by swarmscope.store.legal.cases{tail} (typing.Any)",
        f"line 4: Row is re-exported by swarmscope.store.legal.cases{tail} "
        "(swarmscope.store.legal.case_rows.CaseRow)",
        f"line 4: get_case is re-exported by swarmscope.store.legal.cases{tail} "
        "(swarmscope.store.legal.case_status.get_case)",
    ]
