"""The store ports (``store/ports.py``): the Store keeps every port's methods, and no consumer above the
store takes it untyped.

The ports are ``typing.Protocol`` classes that mypy checks at every call site; this test keeps them honest
at run time too: each method a port names exists on :class:`Store` with the same parameter names, kinds and
defaults, and no ``store`` parameter in monitor/ or cases/ is annotated ``Any`` or left unannotated.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from swarmscope.store import ports
from swarmscope.store.database import Store

SRC = Path(__file__).resolve().parents[2] / "src" / "swarmscope"
PORTS = [ports.EvidenceLedger, ports.DatabaseHandle, ports.RunLedger, ports.MonitorStore]
CONSUMERS = ("monitor", "cases")


def _members(port: type) -> list[str]:
    names: set[str] = set()
    for klass in port.__mro__:
        if klass.__module__ == ports.__name__:
            names |= {n for n in vars(klass) if not n.startswith("_")}
    return sorted(names)


def _shape(fn: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("port", PORTS, ids=lambda p: p.__name__)
def test_store_has_every_port_method(port: type) -> None:
    members = _members(port)
    assert members, f"{port.__name__} names no member"
    for name in members:
        wanted = getattr(port, name)
        if isinstance(wanted, property):
            store_init = inspect.getsource(Store.__init__)
            assert f"self.{name} =" in store_init, f"Store has no attribute {name} ({port.__name__})"
            continue
        have = getattr(Store, name, None)
        assert have is not None, f"Store lacks {name} ({port.__name__})"
        assert _shape(have) == _shape(wanted), f"Store.{name} differs from {port.__name__}.{name}"


def _untyped_store_params(path: Path, root: Path = SRC) -> list[str]:
    """``file:line function(param: annotation)`` per ``*store`` parameter typed Any/object or not at all."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
            if not arg.arg.endswith("store"):
                continue
            note = ast.unparse(arg.annotation) if arg.annotation is not None else None
            if note is None or note in ("Any", "typing.Any", "object"):
                out.append(f"{path.relative_to(root)}:{node.lineno} {node.name}({arg.arg}: {note})")
    return out


def test_no_consumer_takes_an_untyped_store() -> None:
    paths = [path for pkg in CONSUMERS for path in sorted((SRC / pkg).rglob("*.py"))]
    problems = [problem for path in paths for problem in _untyped_store_params(path)]
    assert not problems, "type the store with a port of store/ports.py:\n" + "\n".join(problems)


def test_the_rule_sees_an_untyped_store(tmp_path: Path) -> None:
    crafted = tmp_path / "crafted.py"
    crafted.write_text(
        "from typing import Any\n\ndef f(store: Any, other_store, db_store: int) -> None: ...\n"
    )
    problems = _untyped_store_params(crafted, tmp_path)
    assert problems == ["crafted.py:3 f(store: Any)", "crafted.py:3 f(other_store: None)"]
