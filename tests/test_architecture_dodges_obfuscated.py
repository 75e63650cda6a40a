"""The import walk against deliberate obfuscation (docs/architecture.md, "Known limits" lists what is left):
``__import__`` with a ``fromlist``, an attribute chain on ``import_module(...)``'s result, and
re-exports by a star import, from inside ``match``/``while``, through a class attribute or a function's
``global``, and a command reaching another through click's root context.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_exports import reexport_problems
from tests.architecture_rules import layer_problems
from tests.architecture_tree import crafted_tree as _tree
from tests.import_cycles import cycle_problems
from tests.room_rules import room_problems


def test_fromlist_and_chains_on_a_dynamic_import_are_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cli/letters.py": "def move_case():\n    pass\n",
        "evidence/bundle/verify.py": "def verify():\n    pass\n",
        "cases/x.py": "def f():\n"
                      "    return __import__('swarmscope.cli', fromlist=['letters']).letters.move_case()\n",
        "cases/y.py": "import importlib\ndef g():\n"
                      "    return importlib.import_module('swarmscope').cli.letters.move_case()\n",
        "evidence/records.py": "import importlib\ndef f():\n"
                               "    return importlib.import_module('swarmscope.evidence').bundle.verify\n",
        "cases/a.py": "def f():\n    return __import__('swarmscope.cases', fromlist=['b']).b.X\n",
        "cases/b.py": "from swarmscope.cases import a\nX = 1\n",
    })  # fmt: skip
    assert layer_problems(root / "cases/x.py", root) == [
        "line 2: cases (layer 4) imports swarmscope.cli (layer 6)",
        "line 2: cases (layer 4) imports swarmscope.cli.letters (layer 6)",
    ]
    assert layer_problems(root / "cases/y.py", root) == [
        "line 3: cases (layer 4) imports swarmscope.cli.letters (layer 6)"
    ]
    order = "against the room order ('probe', 'timestamp', 'capture', 'bundle')"
    assert room_problems(root / "evidence/records.py", root) == [
        f"line 3: evidence.records imports swarmscope.evidence.bundle.verify, {order}"
    ]
    assert cycle_problems(root) == [
        "import cycle among cases.a, cases.b: cases.a line 2 imports cases.b; cases.b line 1 imports cases.a"
    ]


IMPORT = "from swarmscope.store.legal.case_rows import CaseRow"


def test_star_match_class_attribute_and_global_reexports(tmp_path: Path) -> None:
    rows = "store/legal/case_rows.py"
    root = _tree(tmp_path, {
        rows: "class CaseRow:\n    pass\n",
        "store/legal/star.py": "from swarmscope.store.legal.case_rows import *  # noqa\n",
        "store/legal/matched.py": f"match 1:\n    case _:\n        {IMPORT}\n",
        "store/legal/looped.py": f"while True:\n    {IMPORT}\n    break\n",
        "store/legal/classy.py": "from swarmscope.store.legal import case_rows\n"
                                 "class Rows:\n    CaseRow = case_rows.CaseRow\n",
        "store/legal/glob.py": "def _load():\n    global CaseRow\n"
                               "    from swarmscope.store.legal.case_rows import CaseRow\n_load()\n",
        "store/legal/user.py": "from swarmscope.store.legal.matched import CaseRow\n"
                               "from swarmscope.store.legal.looped import CaseRow as B\n"
                               "from swarmscope.store.legal.classy import Rows\nR = Rows.CaseRow\n"
                               "from swarmscope.store.legal.glob import CaseRow as G\n",
    })  # fmt: skip
    assert reexport_problems(root / "store/legal/star.py", root) == [
        "line 1: `from swarmscope.store.legal.case_rows import *` re-exports its names"
    ]
    where = "import it from where it is defined (swarmscope.store.legal.case_rows.CaseRow)"
    assert reexport_problems(root / "store/legal/user.py", root) == [
        f"line 1: CaseRow is re-exported by swarmscope.store.legal.matched; {where}",
        f"line 2: CaseRow is re-exported by swarmscope.store.legal.looped; {where}",
        f"line 4: Rows.CaseRow is re-exported by swarmscope.store.legal.classy; {where}",
        f"line 5: CaseRow is re-exported by swarmscope.store.legal.glob; {where}",
    ]


def test_a_command_reaching_another_through_the_root_context(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cli/app.py": "import typer\napp = typer.Typer()\n",
        "cli/disputes.py": "import click\nfrom swarmscope.cli.app import app\n@app.command('dispute')\n"
                           "def dispute(case_id: int) -> None:\n"
                           "    click.get_current_context().find_root().command.main(['letters', 'send'])\n",
    })  # fmt: skip
    assert cli_import_problems(root / "cli/disputes.py", root) == [
        "line 5: .find_root reaches the command registry; call a workflow action in cases/ instead"
    ]
