"""The database around the Store, against crafted dodges (docs/architecture.md, rule 5 "Ownership").

Outside store/, ``store.database.create_engine(...)`` makes an engine of its own and ``store._write()``
hands out the Store's live connection: both skip the ledger, the witness and the fencing, and neither names
``.engine``. Refused: store's engine maker, a private name of a store module, a private member of a store
class on any value (``self`` of a class of its own is not a store).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_network import ownership_problems
from tests.architecture_tree import crafted_tree as _tree

STORE = {
    "store/database.py": "import sqlalchemy as sa\n"
                         "def create_engine(url):\n    return sa.create_engine(url)\n"
                         "def database_url(p):\n    return p\n_CACHE = {}\n"
                         "class Store:\n    def __init__(self):\n        self._lock = None\n"
                         "    def _write(self):\n        pass\n",
    "store/ledger/schema.py": "import sqlalchemy as sa\n"
                              "observation = sa.Table('observation', sa.MetaData())\n",
}  # fmt: skip


def test_store_engine_makers_and_private_members_are_refused_outside_store(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**STORE, "web/board.py": (
        "from swarmscope.store.database import create_engine, database_url\n"
        "from swarmscope.store import database\n"
        "from swarmscope.store.ledger.schema import observation\n"
        "def wipe(path, store):\n    with create_engine(database_url(path)).begin() as conn:\n"
        "        conn.execute(observation.delete())\n"
        "    with store._write() as conn:\n        conn.execute(observation.delete())\n"
        "    return database._CACHE, getattr(store, '_lock')\n"
        "class Board:\n    def _write(self):\n        return self._write\n"
    )})  # fmt: skip
    assert ownership_problems(root / "web/board.py", root) == [
        "line 5: swarmscope.store.database.create_engine makes a database engine; only store/ does "
        "(pass a Store)",
        "line 7: ._write is private to a store/ class; use its public methods",
        "line 9: swarmscope.store.database._CACHE is private to store/; use its public functions",
        "line 9: ._lock is private to a store/ class; use its public methods",
    ]


def test_store_itself_may_use_its_own_engine_and_private_members(tmp_path: Path) -> None:
    root = _tree(tmp_path, {**STORE, "store/ledger/commit.py": (
        "from swarmscope.store.database import create_engine, _CACHE\n"
        "def f(store):\n    return create_engine('x'), store._write(), _CACHE\n"
    )})  # fmt: skip
    assert ownership_problems(root / "store/ledger/commit.py", root) == []


def test_a_private_member_of_a_value_named_store_is_refused(tmp_path: Path) -> None:
    """Without store/ defining the member (a crafted tree with no Store class), the value's name tells."""
    root = _tree(tmp_path, {"web/board.py": (
        "def wipe(store, ledger_store, other):\n"
        "    return store._write(), ledger_store._tx(), other._tx, store.__class__\n"
    )})  # fmt: skip
    assert ownership_problems(root / "web/board.py", root) == [
        "line 2: ._write is private to a store/ class; use its public methods",
        "line 2: ._tx is private to a store/ class; use its public methods",
    ]
