"""Dynamic imports and names read as data, against crafted dodges (docs/architecture.md, "Import rules").

A relative ``import_module`` is resolved against its ``package`` argument (importlib's rule), and a
``package`` that is not a literal is as computed as the name; an importer is recognised by its name under
any owner (``inspect.importlib.import_module``) and may not be handed on as a value; readers of attributes
by a name given as data (``operator.attrgetter``, ``__getattribute__``, format fields) are refused.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_dynamic import dynamic_import_problems
from tests.architecture_environment import environment_problems
from tests.architecture_rules import layer_problems
from tests.architecture_tree import crafted_tree as _tree
from tests.room_rules import room_problems


def test_a_relative_dynamic_import_is_resolved_against_its_package_argument(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "net/clock.py": "def now():\n    return 0\n",
        "cli/letters.py": "", "store/legal/cases.py": "",
        "wire/d1.py": "import importlib\ndef f():\n"
                      "    return importlib.import_module('.clock', package='swarmscope.net').now()\n",
        "cases/d1.py": "import importlib\ndef f():\n"
                       "    return importlib.import_module('.letters', 'swarmscope.cli')\n",
        "store/ledger/d1.py": "import importlib\ndef f():\n"
                              "    return importlib.import_module('..legal.cases', 'swarmscope.store.x')\n",
    })  # fmt: skip
    assert layer_problems(root / "wire/d1.py", root) == [
        "line 3: wire (layer 1) imports swarmscope.net.clock (layer 3)"
    ]
    assert layer_problems(root / "cases/d1.py", root) == [
        "line 3: cases (layer 4) imports swarmscope.cli.letters (layer 6)"
    ]
    assert room_problems(root / "store/ledger/d1.py", root) == [
        "line 3: store.ledger.d1 imports swarmscope.store.legal.cases, against the room order "
        "('ledger', 'legal', 'access', 'console', 'fleet', 'migrations')"
    ]


def test_a_computed_package_or_level_is_a_computed_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cases/d1.py": (
        "import importlib\ndef f(p, n):\n    importlib.import_module('.letters', p)\n"
        "    importlib.import_module('.letters', package='swarmscope.' + p)\n"
        "    __import__('letters', level=n)\n"
    )})  # fmt: skip
    assert dynamic_import_problems(root / "cases/d1.py", root) == [
        "line 3: importlib.import_module() of a computed name; import the module statically",
        "line 4: importlib.import_module() of a computed name; import the module statically",
        "line 5: builtins.__import__() of a computed name; import the module statically",
    ]


def test_an_importer_reached_through_another_module_or_handed_on_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cases/d2.py": (
        "import functools, importlib, inspect\nLOAD = (importlib.import_module,)\n"
        "def f(name):\n    a = functools.partial(importlib.import_module, 'swarmscope.cli.' + name)()\n"
        "    b = inspect.importlib.import_module('swarmscope.cli.' + name)\n"
        "    return a, b, LOAD[0]('swarmscope.cli.letters'), getattr(importlib, '__import__')\n"
    )})  # fmt: skip
    assert dynamic_import_problems(root / "cases/d2.py", root) == [
        "line 2: hands import_module on as a value; call it with a literal name",
        "line 4: hands import_module on as a value; call it with a literal name",
        "line 5: inspect.importlib.import_module() of a computed name; import the module statically",
        "line 6: hands __import__ on as a value; call it with a literal name",
    ]


def test_names_read_as_data_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cli/d4.py": "import operator\nimport swarmscope\n"
                     "def f():\n    return operator.attrgetter('cli.letters.move_case')(swarmscope)()\n",
        "cases/d4.py": "import operator, os\nfrom operator import methodcaller\n"
                       "USER = os.__getattribute__('environ')['USER']\n"
                       "SHELL = '{0.environ[SHELL]}'.format(os)\n"
                       "def f(t, x):\n    return t.format(os), methodcaller('x'), str.format('{0[a]}', x)\n",
    })  # fmt: skip
    reader = "which reads attributes by a name given as data; write the attribute literally"
    fields = "reads attributes of its arguments by name; format plain values"
    assert dynamic_import_problems(root / "cli/d4.py", root) == [
        f"line 4: uses operator.attrgetter, {reader}"
    ]
    assert cli_import_problems(root / "cli/d4.py", root) == []  # the dynamic rule is the one that holds
    assert dynamic_import_problems(root / "cases/d4.py", root) == [
        "line 3: .__getattribute__ reads an attribute by a computed name; write it literally",
        f"line 4: .format() {fields}",
        f"line 6: uses operator.methodcaller, {reader}",
        f"line 6: .format() {fields}",
        f"line 6: .format() {fields}",
    ]


def test_home_and_variables_expanded_at_import_time_read_the_environment(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cases/d4.py": (
        "import os, pathlib\nPATH = os.path.expandvars('$PATH')\nTILDE = os.path.expanduser('~')\n"
        "HOME = pathlib.Path.home()\nKEYS = pathlib.Path('~/k').expanduser()\n"
    )})  # fmt: skip
    assert environment_problems(root / "cases/d4.py", root) == [
        "line 2: reads os.path.expandvars at import time",
        "line 3: reads os.path.expanduser at import time",
        "line 4: reads pathlib.Path.home at import time",
        "line 5: reads .expanduser at import time",
    ]


D8 = """\
import os
from dataclasses import dataclass, field
def _home(*_):
    return os.environ['HOME']
def register(fn):
    fn.home = os.environ.get('HOME')
    return fn
class Meta(type):
    def __new__(m, n, b, ns):
        ns['home'] = os.environ.get('HOME')
        return super().__new__(m, n, b, ns)
@register
def g():
    pass
class C(metaclass=Meta):
    pass
HOME = next(map(_home, [0]))
@dataclass
class S:
    home: str = field(default_factory=_home)
def later():
    return _home()
"""


def test_a_function_handed_on_at_import_time_counts_as_run(tmp_path: Path) -> None:
    """A decorator, a metaclass, ``map(f, ...)`` and a ``default_factory`` run the function at import
    time; naming it inside a function body does not."""
    root = _tree(tmp_path, {"cases/d8.py": D8})
    assert environment_problems(root / "cases/d8.py", root) == [
        "line 12: hands register on at import time, which reads os.environ (line 6)",
        "line 15: hands Meta on at import time, which reads os.environ (line 10)",
        "line 17: hands _home on at import time, which reads os.environ (line 4)",
        "line 20: hands _home on at import time, which reads os.environ (line 4)",
    ]
