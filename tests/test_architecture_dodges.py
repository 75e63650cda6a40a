"""The import rules against the dodges a reviewer crafted to pass them: each crafted module breaks one rule
and must be caught (docs/architecture.md, "Import rules").

Pure layers run on an allow-list, so any library nobody forbade fails; a computed attribute name on a
module or builtin is refused everywhere; network, SMTP and HTTP libraries belong to net/; an attribute
chain ``swarmscope.x.y`` is an import of module ``swarmscope.x.y`` for the layer, room, cli and cycle rules;
the environment is read at import time through any spelling; a lambda counts for the function size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture_cli import cli_import_problems
from tests.architecture_dynamic import dynamic_import_problems
from tests.architecture_environment import environment_problems
from tests.architecture_network import connection_problems, ownership_problems
from tests.architecture_purity import purity_problems
from tests.architecture_rules import (
    layer_problems,
)
from tests.import_cycles import cycle_problems
from tests.room_rules import room_problems
from tests.test_function_size import size_problems


def _module(tmp_path: Path, rel: str, source: str) -> Path:
    """Write a crafted module at ``swarmscope/<rel>`` under tmp_path; returns its path."""
    path = tmp_path / "swarmscope" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


PURE_DODGES = {  # a pure module using a library or name no deny-list named
    "import requests\ndef f(u):\n    return requests.get(u).content\n": [
        "line 1: imports requests", "line 3: calls requests.get()"],
    "import anyio\nasync def f(h):\n    return await anyio.connect_tcp(h, 6881)\n": [
        "line 1: imports anyio", "line 3: calls anyio.connect_tcp()"],
    "import smtplib\ndef f(h):\n    smtplib.SMTP(h)\n": [
        "line 1: imports smtplib", "line 3: calls smtplib.SMTP()"],
    "import ctypes\ndef f():\n    return ctypes.CDLL(None).time(None)\n": [
        "line 1: imports ctypes", "line 3: calls ctypes.CDLL()"],
    "import pkgutil\ndef f():\n    return pkgutil.get_data('swarmscope', 'x')\n": [
        "line 1: imports pkgutil", "line 3: calls pkgutil.get_data()"],
    "import sys\ndef f(t):\n    sys.__stdout__.write(t)\n": [
        "line 1: imports sys", "line 3: calls sys.__stdout__.write()"],
    "import _thread\ndef f():\n    _thread.start_new_thread(len, ('x',))\n": [
        "line 1: imports _thread", "line 3: calls _thread.start_new_thread()"],
    "import datetime\nClock = datetime.datetime\ndef f():\n    return Clock.now()\n": [
        "line 4: calls datetime.datetime.now()"],
    "def f(p):\n    return __loader__.get_data(p)\n": ["line 2: calls __loader__.get_data()"],
}  # fmt: skip


@pytest.mark.parametrize("source", PURE_DODGES, ids=lambda s: s.split()[1].split("(")[0])
def test_pure_layers_import_only_the_allow_list(tmp_path: Path, source: str) -> None:
    bad = _module(tmp_path, "evidence/dodge.py", source)
    assert purity_problems(bad, tmp_path / "swarmscope") == PURE_DODGES[source]


def test_a_computed_attribute_name_on_a_module_is_refused(tmp_path: Path) -> None:
    """``getattr(builtins, "op" + "en")``, ``getattr(asyncio, "open_" + "connection")``, ``vars(os)``,
    ``globals()`` and a module's ``__dict__``; ``getattr`` on a value (a record's fields) is fine."""
    source = (
        "import asyncio, builtins, os\nNAME = 'op' + 'en'\n"
        "def f(p, record, field):\n"
        "    getattr(builtins, NAME)(p)\n"
        "    getattr(asyncio, 'open_' + 'connection')\n"
        "    vars(os)['environ']\n    globals()['x']\n    builtins.__dict__['open']\n"
        "    __builtins__['open'](p)\n    object.__getattribute__(os, field)\n"
        "    return getattr(record, field), getattr(builtins, 'len')\n"
    )
    bad = _module(tmp_path, "cases/dodge.py", source)
    assert dynamic_import_problems(bad, tmp_path / "swarmscope") == [
        "line 4: getattr() of a computed name on builtins; write the name literally",
        "line 5: getattr() of a computed name on asyncio; write the name literally",
        "line 6: vars() reads a whole namespace; write the name literally",
        "line 7: globals() reads a whole namespace; write the name literally",
        "line 8: reaches a module through builtins.__dict__; import it statically",
        "line 9: reaches a module through builtins.__builtins__; import it statically",
        "line 10: object.__getattribute__() of a computed name on os; write the name literally",
    ]


def test_code_loaded_by_a_computed_name_is_refused(tmp_path: Path) -> None:
    source = (
        "import pkgutil, zipimport\ndef f(name, path):\n    pkgutil.resolve_name(name)\n"
        "    return zipimport.zipimporter(path).load_module(name)\n"
    )
    bad = _module(tmp_path, "cases/loader.py", source)
    assert dynamic_import_problems(bad, tmp_path / "swarmscope") == [
        "line 3: pkgutil.resolve_name() of a computed name; import the module statically",
        "line 4: zipimport.zipimporter() runs code the import rules cannot see",
    ]


NETWORK = """\
import anyio
import smtplib
import requests

async def f(host):
    await anyio.connect_tcp(host, 6881)
    smtplib.SMTP(host, 25)
    return requests.get(host).content
"""


def test_network_smtp_and_http_libraries_belong_to_net(tmp_path: Path) -> None:
    root = tmp_path / "swarmscope"
    bad = _module(tmp_path, "cases/talk.py", NETWORK)
    nobody = "is on no allow-list (SHARED_IMPORTS, PACKAGE_IMPORTS)"  # not even net/ needs them
    assert ownership_problems(bad, root) == [
        f"line 1: anyio {nobody}",
        "line 2: smtplib is owned by ['net', 'testbed']",
        f"line 3: requests {nobody}",
    ]
    assert ownership_problems(_module(tmp_path, "net/talk.py", NETWORK), root) == [
        f"line 1: anyio {nobody}",
        f"line 3: requests {nobody}",
    ]
    owned = "import smtplib, socket, httpx\nsmtplib.SMTP\nsocket.socket\nhttpx.AsyncClient\n"
    assert ownership_problems(_module(tmp_path, "net/mail.py", owned), root) == []
    opener = "import anyio\nasync def f(h):\n    await anyio.create_connection(h)\n"
    assert connection_problems(_module(tmp_path, "monitor/dial.py", opener), root) == [
        "line 3: uses anyio.create_connection; only ['net', 'testbed'] open sockets"
    ]


def test_environment_read_through_getattr_at_import_time(tmp_path: Path) -> None:
    source = "import os, posix\nHOME = getattr(os, 'environ').get('HOME')\nUSER = posix.environ[b'USER']\n"
    bad = _module(tmp_path, "cases/settings.py", source)
    assert environment_problems(bad, tmp_path / "swarmscope") == [
        "line 2: reads os.environ at import time",
        "line 3: reads os.environ at import time",
    ]


def test_a_command_reaching_another_through_attributes_or_by_name(tmp_path: Path) -> None:
    """``pkgutil.resolve_name("swarmscope.cli.report")``, ``from swarmscope import cli; cli.report``,
    ``import swarmscope; swarmscope.cli.letters``."""
    root = tmp_path / "swarmscope"
    for name in ("__init__", "report", "letters"):
        _module(tmp_path, f"cli/{name}.py", "def report():\n    pass\n")
    tail = "; move what both commands need into cases/ (a workflow action) or a shared cli module"
    by_name = _module(
        tmp_path, "cli/a.py", "import pkgutil\nR = pkgutil.resolve_name('swarmscope.cli.report')\n"
    )
    assert cli_import_problems(by_name, root) == [f"line 2: imports command module cli.report{tail}"]
    package = _module(
        tmp_path, "cli/b.py", "from swarmscope import cli\ndef f():\n    return cli.report.report\n"
    )
    assert cli_import_problems(package, root) == [
        f"line 1: imports command module cli.__init__{tail}",
        f"line 3: imports command module cli.report{tail}",
    ]
    chain = _module(tmp_path, "cli/c.py", "import swarmscope\ndef f():\n    return swarmscope.cli.letters\n")
    assert cli_import_problems(chain, root) == [f"line 3: imports command module cli.letters{tail}"]


def test_attribute_chains_count_for_rooms_and_cycles(tmp_path: Path) -> None:
    """``swarmscope.evidence.probe.run.ProbeRun`` in the evidence core, ``swarmscope.store.legal.cases``
    in the ledger room, and a cycle closed only through attribute access."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "evidence/probe/run.py", "class ProbeRun:\n    pass\n")
    _module(tmp_path, "store/legal/cases.py", "def get_case():\n    pass\n")
    core = "import swarmscope.evidence\n\ndef f():\n    return swarmscope.evidence.probe.run.ProbeRun\n"
    assert room_problems(_module(tmp_path, "evidence/records.py", core), root) == [
        "line 4: evidence.records imports swarmscope.evidence.probe.run, against the room order "
        "('probe', 'timestamp', 'capture', 'bundle')"
    ]
    ledger = "import swarmscope\n\ndef f():\n    return swarmscope.store.legal.cases.get_case()\n"
    assert room_problems(_module(tmp_path, "store/ledger/writer.py", ledger), root) == [
        "line 4: store.ledger.writer imports swarmscope.store.legal.cases, against the room order "
        "('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    ]
    _module(tmp_path, "cases/a.py", "import swarmscope\n\ndef f():\n    return swarmscope.cases.b.X\n")
    _module(tmp_path, "cases/b.py", "from swarmscope.cases import a\nX = 1\n")
    assert [p for p in cycle_problems(root) if "cases." in p] == [
        "import cycle among cases.a, cases.b: cases.a line 4 imports cases.b; cases.b line 1 imports cases.a"
    ]


def test_a_long_lambda_is_caught() -> None:
    body = "".join(f"    + {i}\n" for i in range(60))
    assert size_problems(f"f = lambda x: (\n    x\n{body})\n", "lam.py") == [
        "lam.py:1: lambda has 63 lines, more than 60"
    ]
    assert size_problems("f = lambda x: (\n    x\n" + "    + 1\n" * 57 + ")\n", "ok.py") == []


def test_an_attribute_chain_into_a_higher_layer_is_caught(tmp_path: Path) -> None:
    """``import swarmscope`` then ``swarmscope.net.clock.now()`` in wire/ imports net/ all the same."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "net/clock.py", "def now():\n    pass\n")
    bad = _module(
        tmp_path, "wire/chain.py", "import swarmscope\n\ndef f():\n    return swarmscope.net.clock.now()\n"
    )
    assert layer_problems(bad, root) == ["line 4: wire (layer 1) imports swarmscope.net.clock (layer 3)"]
