"""Package resource and template loaders naming a project package by a literal, against crafted dodges
(docs/architecture.md, "Import rules"): ``importlib.resources.files("swarmscope.web")``,
``jinja2.PackageLoader("swarmscope.web", "templates")``, ``pkgutil.get_data("swarmscope.cli", ...)`` run
the named package's ``__init__``: each counts as an import (tests/architecture_loaders.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_rules import layer_problems
from tests.architecture_tree import crafted_tree as _tree
from tests.room_rules import room_problems


def test_a_loader_naming_a_package_is_an_import_of_it(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "web/templating.py": "X = 1\n", "cli/app.py": "Y = 2\n", "store/legal/cases.py": "Z = 3\n",
        "cases/letters.py": (
            "import importlib.resources\nimport pkgutil\nimport jinja2\n"
            "def templates():\n    base = importlib.resources.files('swarmscope.web')\n"
            "    loader = jinja2.PackageLoader('swarmscope.web', 'templates')\n"
            "    return base, loader, pkgutil.get_data('swarmscope.cli', 'x.txt')\n"
            "def own():\n    return importlib.resources.files('swarmscope.cases')\n"
        ),
        "store/ledger/x.py": "from importlib.resources import read_text\n"
                             "def f():\n    return read_text('swarmscope.store.legal', 'a.sql')\n",
    })  # fmt: skip
    assert layer_problems(root / "cases/letters.py", root) == [
        "line 5: cases (layer 4) imports swarmscope.web (layer 5)",
        "line 6: cases (layer 4) imports swarmscope.web (layer 5)",
        "line 7: cases (layer 4) imports swarmscope.cli (layer 6)",
    ]
    assert room_problems(root / "store/ledger/x.py", root) == [
        "line 3: store.ledger.x imports swarmscope.store.legal, against the room order "
        "('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    ]
