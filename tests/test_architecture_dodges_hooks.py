"""PEP 562 module hooks against crafted dodges (docs/architecture.md, "Rooms": no re-exports).

A module-level ``__getattr__`` answers ``from swarmscope.store.legal.cases import CaseRow`` for a name the
module never binds (a moved name kept importable); ``__dir__`` advertises such names. Both are refused
in src/ unless ``MODULE_HOOK_EXCEPTIONS`` lists the module with a reason.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_exports import reexport_problems
from tests.architecture_tree import crafted_tree as _tree


def test_a_module_level_getattr_or_dir_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "store/legal/case_rows.py": "class CaseRow:\n    pass\n",
        "store/legal/cases.py": (
            "def __getattr__(name):\n    if name == 'CaseRow':\n"
            "        from swarmscope.store.legal.case_rows import CaseRow\n        return CaseRow\n"
            "    raise AttributeError(name)\n"
            "if True:\n    __dir__ = lambda: ['CaseRow']\n"
        ),
        "store/legal/letters.py": "from swarmscope.store.legal.cases import CaseRow\n"
                                  "class Letter:\n    def __getattr__(self, name):\n        return name\n",
    })  # fmt: skip
    assert reexport_problems(root / "store/legal/cases.py", root) == [
        "line 1: module-level __getattr__ (PEP 562) hands out names on demand; import them from where they "
        "are defined",
        "line 7: module-level __dir__ (PEP 562) hands out names on demand; import them from where they are "
        "defined",
    ]  # a class's own __getattr__ (Letter) is ordinary; the importer is told where the hook is
    assert reexport_problems(root / "store/legal/letters.py", root) == [
        "line 1: CaseRow is re-exported by swarmscope.store.legal.cases; import it from where it is defined "
        "(swarmscope.store.legal.cases.__getattr__)"
    ]


def test_a_walrus_or_typing_cast_binding_is_a_re_export(tmp_path: Path) -> None:
    """``if (CaseRow := case_rows.CaseRow):`` at module level and ``CaseRow = typing.cast(type,
    case_rows.CaseRow)`` bind another module's name like ``CaseRow = case_rows.CaseRow``."""
    root = _tree(tmp_path, {
        "store/legal/case_rows.py": "class CaseRow:\n    pass\n",
        "store/legal/cases.py": "import typing\nfrom swarmscope.store.legal import case_rows\n"
                                "if (CaseRow := case_rows.CaseRow):\n    pass\n"
                                "Row = typing.cast(type, case_rows.CaseRow)\n"
                                "def f():\n    if (Own := case_rows.CaseRow):\n        return Own\n",
        "store/legal/letters.py": "from swarmscope.store.legal.cases import CaseRow, Row\n",
    })  # fmt: skip
    tail = "import it from where it is defined (swarmscope.store.legal.case_rows.CaseRow)"
    assert reexport_problems(root / "store/legal/letters.py", root) == [
        f"line 1: CaseRow is re-exported by swarmscope.store.legal.cases; {tail}",
        f"line 1: Row is re-exported by swarmscope.store.legal.cases; {tail}",
    ]
