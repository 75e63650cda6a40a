"""Import rules of docs/architecture.md, enforced by walking every module's AST.

1. Layers: imports point down only; siblings in one layer never import each other; no import cycles.
   Rooms: a package's core imports none of its rooms (store/database.py, the opener, excepted), a room
   only the core and earlier rooms (:mod:`tests.room_rules`).
2. wire/, evidence/ and the pure policy modules do no I/O, read no clock, draw no randomness.
3. Every package imports from outside the project only its allow-list: only net/ (and testbed/) talks to
   the network, only store/ to the database, only attribution/ reads IP datasets.
4. No module reads the environment at import time, nor calls a function that does.
5. A cli/ module imports only the shared cli/ modules and reaches no command through the registry;
   workflow actions live in cases/.
6. No module re-exports: a name is imported from the module that defines it.

The rules live in :mod:`tests.architecture_rules`, :mod:`tests.architecture_purity`,
:mod:`tests.architecture_network`, :mod:`tests.architecture_environment`, :mod:`tests.architecture_cli`,
:mod:`tests.architecture_exports`, :mod:`tests.room_rules` and :mod:`tests.import_cycles`; each is proven
here (and in the ``test_architecture_dodges*`` modules) on a crafted module that breaks it (dynamic
imports, names imported from ``os``/``time``/``uuid``, file and socket I/O, connections opened outside
net/, cycles hidden in functions) and run on the real tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture_cli import cli_import_problems
from tests.architecture_dynamic import dynamic_import_problems
from tests.architecture_environment import environment_problems
from tests.architecture_exports import reexport_problems
from tests.architecture_network import connection_problems, ownership_problems
from tests.architecture_purity import pure_paths, purity_problems
from tests.architecture_rules import (
    SRC,
    layer_problems,
    modules,
)
from tests.import_cycles import cycle_problems
from tests.room_rules import room_problems

ALL = modules()
IDS = {"ids": lambda p: str(p.relative_to(SRC))}


@pytest.mark.parametrize("path", ALL, **IDS)
def test_imports_point_down(path: Path) -> None:
    problems = layer_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_resource_ownership(path: Path) -> None:
    problems = ownership_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", pure_paths(), **IDS)
def test_pure_modules_do_no_io(path: Path) -> None:
    problems = purity_problems(path)
    assert not problems, f"{path.relative_to(SRC)} must be pure:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_no_environment_at_import_time(path: Path) -> None:
    problems = environment_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_dynamic_imports_name_their_module(path: Path) -> None:
    problems = dynamic_import_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_only_net_opens_connections(path: Path) -> None:
    problems = connection_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_cli_commands_import_no_other_command(path: Path) -> None:
    problems = cli_import_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_rooms_import_in_order(path: Path) -> None:
    problems = room_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, **IDS)
def test_names_are_imported_from_where_they_are_defined(path: Path) -> None:
    problems = reexport_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


def test_no_import_cycles() -> None:
    problems = cycle_problems()
    assert not problems, "\n".join(problems)


def _module(tmp_path: Path, rel: str, source: str) -> Path:
    """Write a crafted module at ``swarmscope/<rel>`` under tmp_path; returns its path."""
    path = tmp_path / "swarmscope" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself works: a wire module importing asyncio, net and the clock is flagged."""
    root = tmp_path / "swarmscope"
    (root / "wire").mkdir(parents=True)
    bad = root / "wire" / "bad.py"
    bad.write_text("import asyncio\nfrom swarmscope.net import clock\nimport time\nx = time.time()\n")
    layers = layer_problems(bad, root)
    assert layers == [
        "line 2: wire (layer 1) imports swarmscope.net (layer 3)",
        "line 2: wire (layer 1) imports swarmscope.net.clock (layer 3)",
    ]
    pure = purity_problems(bad, root)
    assert "line 1: imports asyncio" in pure and "line 4: calls time.time()" in pure


DYNAMIC = """\
import importlib

def load(name):
    importlib.import_module("swarmscope.net.clock")
    __import__("socket")
    importlib.import_module("..store", package=__package__)
    importlib.import_module(f"swarmscope.cli.{name}")
    return __import__(name)
"""


def test_dynamic_imports_are_imports(tmp_path: Path) -> None:
    """A literal dynamic import meets every import rule; a computed one is refused (none could check it)."""
    root = tmp_path / "swarmscope"
    bad = _module(tmp_path, "wire/dynamic.py", DYNAMIC)
    assert layer_problems(bad, root) == [
        "line 4: wire (layer 1) imports swarmscope.net.clock (layer 3)",
        "line 6: wire (layer 1) imports swarmscope.store (layer 3)",
    ]
    assert ownership_problems(bad, root) == ["line 5: socket is owned by ['net', 'testbed']"]
    assert "line 5: imports socket" in purity_problems(bad, root)
    assert dynamic_import_problems(bad, root) == [
        "line 7: importlib.import_module() of a computed name; import the module statically",
        "line 8: builtins.__import__() of a computed name; import the module statically",
    ]
    source = "import runpy, sys\nrunpy.run_path('x.py')\nexec('import os')\nsys.modules['os']\n"
    loader = _module(tmp_path, "cli/loader.py", source)
    assert dynamic_import_problems(loader, root) == [
        "line 2: runpy.run_path() runs code the import rules cannot see",
        "line 3: builtins.exec() runs code the import rules cannot see",
        "line 4: reaches a module through sys.modules; import it statically",
    ]


CLOCK_AND_RANDOM = """\
from os import urandom as draw
from time import time
from uuid import uuid4
import uuid
from datetime import datetime
import os as system
from cryptography.hazmat.primitives.asymmetric import ed25519

def stamp(rng=draw):
    a = time()
    b = uuid4()
    c = uuid.uuid1()
    d = datetime.now()
    e = getattr(system, "getrandom")(8)
    f = uuid.UUID(bytes=bytes(16))
    g = ed25519.Ed25519PrivateKey.generate()
    return a, b, c, d, e, f, g
"""


def test_names_imported_from_clock_and_random_modules(tmp_path: Path) -> None:
    """``from os import urandom as draw``, ``from time import time``, ``uuid4()``, ``getattr(os, ...)``,
    a random signing key."""
    bad = _module(tmp_path, "evidence/stamp.py", CLOCK_AND_RANDOM)
    assert purity_problems(bad, tmp_path / "swarmscope") == [
        "line 1: imports os",
        "line 1: imports os.urandom",
        "line 2: imports time",
        "line 2: imports time.time",
        "line 3: imports uuid.uuid4",
        "line 6: imports os",
        "line 9: uses os.urandom",
        "line 10: calls time.time()",
        "line 11: calls uuid.uuid4()",
        "line 12: calls uuid.uuid1()",
        "line 13: calls datetime.datetime.now()",
        "line 14: calls os.getrandom()",
        "line 16: calls cryptography.hazmat.primitives.asymmetric.ed25519.Ed25519PrivateKey.generate()",
    ]  # uuid.UUID (line 15) is a pure constructor


FILE_IO = """\
import io
from pathlib import Path, PurePosixPath
from builtins import open as opener

def read(path, handle):
    data = Path(path).read_bytes()
    PurePosixPath("a") / "b"
    handle.write_text("x")
    with open(path) as f, opener(path) as g, io.open(path) as h:
        pass
    return io.BytesIO(data), path.exists()
"""


def test_file_io_in_pure_layers(tmp_path: Path) -> None:
    """``open`` under any name, ``Path`` and its methods, ``io.open``; ``BytesIO``, ``PurePosixPath`` pass."""
    bad = _module(tmp_path, "wire/files.py", FILE_IO)
    assert purity_problems(bad, tmp_path / "swarmscope") == [
        "line 2: imports pathlib.Path",
        "line 3: imports builtins.open",
        "line 6: calls pathlib.Path()",
        "line 6: calls .read_bytes() (file I/O)",
        "line 8: calls .write_text() (file I/O)",
        "line 9: calls open()",
        "line 9: calls open()",
        "line 9: calls io.open()",
        "line 11: calls .exists() (file I/O)",
    ]


SOCKET_IO = """\
def exchange(sock, writer, transport, loop, data):
    sock.sendall(data)
    reply, peer = sock.recvfrom(1500)
    writer.write(data)
    await writer.drain()
    transport.sendto(data, peer)
    return loop.sock_recv(sock, 4), reply
"""


def test_socket_io_in_pure_layers(tmp_path: Path) -> None:
    """A pure module handed a socket, stream or transport cannot use it (no import needed to do so)."""
    bad = _module(tmp_path, "evidence/talk.py", SOCKET_IO)
    assert purity_problems(bad, tmp_path / "swarmscope") == [
        "line 2: calls .sendall() (socket I/O)",
        "line 3: calls .recvfrom() (socket I/O)",
        "line 5: calls .drain() (socket I/O)",
        "line 6: calls .sendto() (socket I/O)",
        "line 7: calls .sock_recv() (socket I/O)",
    ]


OPENERS = """\
import asyncio
from asyncio import start_server as serve
from swarmscope.net import peer_conn

async def contact(loop, host, port):
    await asyncio.open_connection(host, port)
    await serve(None, host, port)
    await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(host, 0))
    await loop.create_connection(asyncio.Protocol, host, port)
    await peer_conn.open_connection(host, port)
"""


def test_connections_are_opened_only_in_net(tmp_path: Path) -> None:
    """asyncio's openers, under an alias or on a loop, outside net/; a net/ function of that name is fine."""
    root = tmp_path / "swarmscope"
    bad = _module(tmp_path, "monitor/contact.py", OPENERS)
    assert connection_problems(bad, root) == [
        "line 2: uses asyncio.start_server; only ['net', 'testbed'] open sockets",
        "line 6: uses asyncio.open_connection; only ['net', 'testbed'] open sockets",
        "line 7: uses asyncio.start_server; only ['net', 'testbed'] open sockets",
        "line 8: uses .create_datagram_endpoint; only ['net', 'testbed'] open sockets",
        "line 9: uses .create_connection; only ['net', 'testbed'] open sockets",
    ]
    assert connection_problems(_module(tmp_path, "net/contact.py", OPENERS), root) == []


def test_environment_read_at_import_time_under_any_name(tmp_path: Path) -> None:
    """``from os import environ``, a default argument and a class body all run at import time."""
    source = (
        "from os import environ, getenv\nimport os\n"
        "HOME = environ['HOME']\n"
        "def f(x=getenv('X')):\n    return os.environ['Y']\n"
        "class C:\n    z = os.getenv('Z')\n"
    )
    bad = _module(tmp_path, "net/settings.py", source)
    assert environment_problems(bad, tmp_path / "swarmscope") == [
        "line 3: reads os.environ at import time",
        "line 4: reads os.getenv at import time",
        "line 7: reads os.getenv at import time",
    ]


def test_import_cycles_hidden_in_functions_and_type_checking(tmp_path: Path) -> None:
    """A cycle closed by a function-level import, or under TYPE_CHECKING, is a cycle; a chain is not."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "evidence/__init__.py", "")
    _module(tmp_path, "evidence/verify.py", "def run():\n    from swarmscope.evidence import proofs\n")
    _module(tmp_path, "evidence/proofs.py", "from swarmscope.evidence.verify import run\n")
    _module(tmp_path, "evidence/chain.py", "from . import proofs\n")
    _module(
        tmp_path,
        "net/node.py",
        "from typing import TYPE_CHECKING\nfrom swarmscope.net.answer import reply\n",
    )
    _module(tmp_path, "net/answer.py", "if TYPE_CHECKING:\n    from swarmscope.net.node import Node\n")
    assert cycle_problems(root) == [
        "import cycle among evidence.proofs, evidence.verify: evidence.proofs line 1 imports "
        "evidence.verify; evidence.verify line 2 imports evidence.proofs",
        "import cycle among net.answer, net.node: net.answer line 2 imports net.node; "
        "net.node line 2 imports net.answer",
    ]


COMMAND_IMPORTS = """\
from swarmscope.cli.app import app
from swarmscope.cli.letters import move_case
from swarmscope.cli import numeric as num, cases
from . import payments
from .options import fail
import swarmscope.cli.escalations

def late():
    from swarmscope.cli import register_commands
"""


def test_a_command_importing_another_command_is_caught(tmp_path: Path) -> None:
    """Absolute, package-level, relative, plain and function-level imports of command modules are caught;
    the shared modules, the command registry and the demo are not."""
    root = tmp_path / "swarmscope"
    for name in ("app", "letters", "numeric", "cases", "payments", "options", "escalations"):
        _module(tmp_path, f"cli/{name}.py", "")
    _module(tmp_path, "cli/__init__.py", "def register_commands():\n    pass\n")
    bad = _module(tmp_path, "cli/disputes.py", COMMAND_IMPORTS)
    tail = "; move what both commands need into cases/ (a workflow action) or a shared cli module"
    assert cli_import_problems(bad, root) == [
        f"line 2: imports command module cli.letters{tail}",
        f"line 3: imports command module cli.cases{tail}",
        f"line 4: imports command module cli.payments{tail}",
        f"line 6: imports command module cli.escalations{tail}",
        f"line 9: imports command module cli.__init__{tail}",
    ]
    registry = _module(tmp_path, "cli/__init__.py", "from swarmscope.cli import letters, cases\n")
    assert cli_import_problems(registry, root) == []
    outside = _module(tmp_path, "cases/flow.py", "from swarmscope.cli.letters import move_case\n")
    assert cli_import_problems(outside, root) == []  # the layer rule refuses that one


def test_rooms_import_the_core_and_earlier_rooms_only(tmp_path: Path) -> None:
    """The evidence core importing a room, a room importing a later room (even inside a function), an
    unlisted sub-package, and a store/ledger import of store/legal."""
    root = tmp_path / "swarmscope"
    core = _module(tmp_path, "evidence/records.py", "from swarmscope.evidence.probe.run import ProbeRun\n")
    assert room_problems(core, root) == [
        "line 1: evidence.records imports swarmscope.evidence.probe.run.ProbeRun, against the room order "
        "('probe', 'timestamp', 'capture', 'bundle')"
    ]
    source = (
        "from swarmscope.evidence import records\n\ndef f():\n    from swarmscope.evidence import bundle\n"
    )
    probe = _module(tmp_path, "evidence/probe/run.py", source)
    assert room_problems(probe, root) == [
        "line 4: evidence.probe.run imports swarmscope.evidence.bundle, against the room order "
        "('probe', 'timestamp', 'capture', 'bundle')"
    ]
    fine = "from swarmscope.evidence.probe import run\nfrom swarmscope.evidence.chain import entry\n"
    assert room_problems(_module(tmp_path, "evidence/bundle/verify.py", fine), root) == []
    stray = _module(tmp_path, "net/tcp/shell.py", "")
    assert room_problems(stray, root) == ["sub-package net.tcp has no place in ROOMS"]
    ledger = _module(tmp_path, "store/ledger/writer.py", "from swarmscope.store.legal.schema import letter\n")
    assert room_problems(ledger, root) == [
        "line 1: store.ledger.writer imports swarmscope.store.legal.schema.letter, against the room order "
        "('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    ]
    opener = _module(tmp_path, "store/database.py", "from swarmscope.store.ledger import recovery\n")
    assert room_problems(opener, root) == []
