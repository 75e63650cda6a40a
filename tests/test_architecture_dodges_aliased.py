"""Importers under another name, against crafted dodges (docs/architecture.md, "Import rules").

``from importlib import import_module as load`` (or ``from builtins import __import__ as imp``) makes
``load(...)`` a dynamic import like ``importlib.import_module(...)``: the walk resolves a called name
through the module's import aliases, so the layer, room, command, cycle and computed-name rules see it.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_dynamic import dynamic_import_problems
from tests.architecture_rules import layer_problems
from tests.architecture_tree import crafted_tree as _tree
from tests.import_cycles import cycle_problems
from tests.room_rules import room_problems

LETTERS = {"cli/letters.py": "def move_case():\n    pass\n"}
LOAD = "from importlib import import_module as load\n"


def test_an_aliased_import_module_is_an_import_for_every_rule(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        **LETTERS,
        "cases/x.py": LOAD + "def f():\n    return load('swarmscope.cli.letters').move_case()\n",
        "cli/disputes.py": LOAD + "def f():\n    return load('swarmscope.cli.letters').move_case()\n",
        "store/legal/cases.py": "def get():\n    pass\n",
        "store/ledger/commit.py": LOAD + "def f():\n    return load('swarmscope.store.legal.cases').get()\n",
        "cases/a.py": LOAD + "def f():\n    return load('swarmscope.cases.b').X\n",
        "cases/b.py": "from swarmscope.cases import a\nX = 1\n",
    })  # fmt: skip
    assert layer_problems(root / "cases/x.py", root) == [
        "line 3: cases (layer 4) imports swarmscope.cli.letters (layer 6)"
    ]
    assert cli_import_problems(root / "cli/disputes.py", root)
    assert room_problems(root / "store/ledger/commit.py", root) == [
        "line 3: store.ledger.commit imports swarmscope.store.legal.cases, against the room order "
        "('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    ]
    assert cycle_problems(root) == [
        "import cycle among cases.a, cases.b: cases.a line 3 imports cases.b; cases.b line 1 imports cases.a"
    ]


def test_an_aliased_importer_of_a_computed_name_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cases/x.py": LOAD + "def f(name):\n    return load('swarmscope.cli.' + name)\n",
        "cases/y.py": "from builtins import __import__ as imp\nfrom pkgutil import resolve_name as rn\n"
                      "def f(name):\n    return imp('swarmscope.cli.' + name), rn(name)\n",
        "cases/z.py": LOAD + "HANDED = (load,)\n",
        "cases/w.py": "import importlib as il\nimport builtins as b\n"
                      "from importlib import __import__ as imp\n"
                      "def f(n):\n    return il.import_module(n), b.__import__(n), imp(n)\n",
    })  # fmt: skip
    assert dynamic_import_problems(root / "cases/x.py", root) == [
        "line 3: importlib.import_module() of a computed name; import the module statically"
    ]
    assert dynamic_import_problems(root / "cases/y.py", root) == [
        "line 4: builtins.__import__() of a computed name; import the module statically",
        "line 4: pkgutil.resolve_name() of a computed name; import the module statically",
    ]
    assert dynamic_import_problems(root / "cases/w.py", root) == [
        "line 5: importlib.import_module() of a computed name; import the module statically",
        "line 5: builtins.__import__() of a computed name; import the module statically",
        "line 5: importlib.__import__() of a computed name; import the module statically",
    ]
    assert dynamic_import_problems(root / "cases/z.py", root) == [
        "line 2: hands import_module on as a value; call it with a literal name"
    ]


def test_an_aliased_builtin_import_with_a_fromlist_is_an_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**LETTERS, "cases/x.py": (
        "from builtins import __import__ as imp\n"
        "def f():\n    return imp('swarmscope.cli.letters', fromlist=['move_case']).move_case()\n"
    )})  # fmt: skip
    assert layer_problems(root / "cases/x.py", root) == [
        "line 3: cases (layer 4) imports swarmscope.cli.letters (layer 6)",
        "line 3: cases (layer 4) imports swarmscope.cli.letters.move_case (layer 6)",
    ]
