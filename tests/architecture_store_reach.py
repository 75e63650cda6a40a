"""Rule 5's database half, around the Store (docs/architecture.md, "Rules"): outside store/ no module
makes its own engine with store's engine maker (``store.database.create_engine``), nor reaches anything
private to store/: a ``_``-prefixed name of a store module (``swarmscope.store.database._x``) or a
``_``-prefixed member of a store class on any value, or any ``_``-prefixed member of a value named as a
store (``store._write()`` hands out a live connection that skips the ledger, the witness and the
fencing). ``self``/``cls`` of a class of its own are not a store.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.architecture_rules import Module, _is_getattr

STORE = "store"
ENGINE_MAKERS = {"create_engine"}  # store functions that return an engine or a connection


def store_reach_problems(mod: Module) -> list[str]:
    """Problem lines of ``mod`` (none inside store/)."""
    if mod.top == STORE:
        return []
    problems = []
    for node, name, _ in mod.references():
        parts = name.split(".")
        if parts[:2] != ["swarmscope", STORE]:
            continue
        if parts[-1] in ENGINE_MAKERS:
            problems.append(
                f"line {node.lineno}: {name} makes a database engine; only store/ does (pass a Store)"
            )
        elif any(_private(p) for p in parts[2:]):
            problems.append(f"line {node.lineno}: {name} is private to store/; use its public functions")
    private = _store_private_members(mod.root)
    for line, owner, attr in _value_members(mod):
        if (attr in private and owner not in {"self", "cls"}) or (_private(attr) and _a_store(owner)):
            problems.append(f"line {line}: .{attr} is private to a store/ class; use its public methods")
    return problems


def _a_store(owner: str | None) -> bool:
    """A value named as a store (``store``, ``ledger_store``): its private members are store/'s."""
    return owner is not None and (owner == "store" or owner.endswith("_store"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _value_members(mod: Module) -> list[tuple[int, str | None, str]]:
    """(line, owner's plain name or None, member) of every ``x.member`` / literal ``getattr(x, "member")``
    whose owner the walk cannot resolve (a value)."""
    out = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Attribute) and not mod.qualify(node):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            out.append((node.lineno, owner, node.attr))
        elif _is_getattr(node) and not mod.qualify(node):
            assert isinstance(node, ast.Call)
            owner = node.args[0].id if isinstance(node.args[0], ast.Name) else None
            out.append((node.lineno, owner, node.args[1].value))  # type: ignore[attr-defined]
    return out


@functools.cache
def _store_private_members(root: Path) -> frozenset[str]:
    """``_``-prefixed methods and attributes defined in the classes of store/ (under ``root``), also the
    instance attributes their methods bind (``self._engine = ...``)."""
    names: set[str] = set()
    for path in sorted((root / STORE).rglob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(cls, ast.ClassDef):
                continue
            for stmt in cls.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(stmt.name)
                elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    names.add(stmt.target.id)
                elif isinstance(stmt, ast.Assign):
                    names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            names.update(
                t.attr
                for t in ast.walk(cls)
                if isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
                and isinstance(t.ctx, ast.Store)
            )
    return frozenset(n for n in names if _private(n))
