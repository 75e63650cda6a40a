"""Re-exports and room limits against crafted dodges (docs/architecture.md, "Rooms"): a name handed on
by unpacking, a conditional or a ``for`` target is a re-export; the fleet room imports only the ledger
room, the console room never access control; an Alembic revision imports nothing of the project.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_exports import reexport_problems
from tests.room_rules import room_problems


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "swarmscope"
    for rel, source in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(source)
    return root


def test_a_name_handed_on_by_unpacking_a_conditional_or_a_loop_is_a_reexport(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "", "store/__init__.py": "", "store/legal/__init__.py": "",
        "store/legal/case_rows.py": "class CaseRow:\n    pass\n",
        "store/legal/relay.py": "from swarmscope.store.legal import case_rows\n"
                                "CaseRow, = (case_rows.CaseRow,)\nRow = case_rows.CaseRow if True else None\n"
                                "for Other in (case_rows.CaseRow,):\n    pass\nROWS = (case_rows.CaseRow,)\n",
        "store/legal/user.py": "from swarmscope.store.legal.relay import CaseRow, Row, Other, ROWS\n",
    })  # fmt: skip
    where = "import it from where it is defined (swarmscope.store.legal.case_rows.CaseRow)"
    assert reexport_problems(root / "store/legal/user.py", root) == [
        f"line 1: {name} is re-exported by swarmscope.store.legal.relay; {where}"
        for name in ("CaseRow", "Other", "Row")
    ]  # ROWS, a tuple bound whole, is a value of relay's own


def test_the_fleet_imports_only_the_ledger_and_a_revision_nothing(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "store/fleet/d10.py": "from swarmscope.store.legal.cases import get_case\n"
                              "from swarmscope.store.ledger import commit\n"
                              "from swarmscope.store import database\n",
        "store/migrations/versions/0099_x.py": "from swarmscope.store.ledger.schema import observation\n"
                                               "from swarmscope.evidence import records\n",
    })  # fmt: skip
    assert room_problems(root / "store/fleet/d10.py", root) == [
        "line 1: store.fleet.d10 imports swarmscope.store.legal.cases; store.fleet imports only ['ledger']"
    ]
    assert room_problems(root / "store/migrations/versions/0099_x.py", root) == [
        "line 1: store.migrations.versions.0099_x imports swarmscope.store.ledger.schema; "
        "a frozen revision imports nothing",
        "line 2: store.migrations.versions.0099_x imports swarmscope.evidence; "
        "a frozen revision imports nothing",
    ]


def test_the_console_read_models_never_import_access_control(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "store/console/overview.py": "from swarmscope.store.access.scoping import client_infohashes\n"
                                     "from swarmscope.store.ledger.schema import observation\n"
                                     "from swarmscope.store.legal.schema import legal_case\n",
    })  # fmt: skip
    assert room_problems(root / "store/console/overview.py", root) == [
        "line 1: store.console.overview imports swarmscope.store.access.scoping; "
        "store.console imports only ['ledger', 'legal']"
    ]
