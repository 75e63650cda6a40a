"""Rule 7 of the architecture (docs/architecture.md, "Environment"): no module reads the process environment
at import time, through any spelling (``os.environ``, ``from os import getenv``, ``getattr(os, "environ")``,
``posix.environ``); cli/ builds the settings when a command runs.

Import time is what runs when the module is imported: its top-level statements, class bodies, decorators
and default arguments, and every function those call. A module-level ``SETTINGS = _load()`` reads the
environment if ``_load`` does, or a function it calls, or ``__init__`` of a class instantiated there, in
this module or another module of the package (followed by name, the way the import walk resolves names).
A local function or class named at import time but not called there (a decorator, a metaclass, ``map(f,
...)``, a dataclass ``default_factory``) is taken as run then. Not followed: a function of another module
handed on (``map(config.load, ...)``), and calls through values (``SETTINGS = loader()`` where ``loader``
is bound at run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture_rules import (
    ENVIRONMENT,
    ENVIRONMENT_ATTRIBUTES,
    SRC,
    Module,
    _by_line,
    _import_time_nodes,
    _matches,
    _module_prefix,
    load,
)

CONSTRUCTORS = ("__new__", "__init__", "__post_init__")  # what ``C()`` runs of class C


def _read(mod: Module, node: ast.AST) -> str | None:
    """The spelling of the environment ``node`` reads, or None."""
    if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_ATTRIBUTES:
        if node.attr.startswith("expand"):  # os.path's, or pathlib.Path's on a value
            return mod.qualify(node) if mod.qualify(node) in ENVIRONMENT else f".{node.attr}"
        return f"os.{node.attr}"
    if isinstance(node, ast.Attribute) and mod.qualify(node) in ENVIRONMENT:  # ``pathlib.Path.home``
        return mod.qualify(node)
    name = mod.qualify(node) if isinstance(node, ast.Name | ast.Call) else None
    if name and any(_matches(name, env) for env in ENVIRONMENT):
        return name
    return None


def _definition(mod: Module, name: str) -> list[ast.AST]:
    """The code a call of top-level ``name`` (``f``, ``C`` or ``C.method``) of the module runs."""
    head, _, method = name.partition(".")
    for stmt in mod.tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name == head and not method:
            return [stmt]
        if isinstance(stmt, ast.ClassDef) and stmt.name == head:
            wanted = (method,) if method else CONSTRUCTORS
            return [s for s in stmt.body if isinstance(s, ast.FunctionDef) and s.name in wanted]
    return []


def _callee(mod: Module, func: ast.expr) -> tuple[Module, str] | None:
    """(module, top-level name) a call reaches: a local function or class, or one of another module."""
    if isinstance(func, ast.Name) and _definition(mod, func.id):
        return mod, func.id
    owner = func.value if isinstance(func, ast.Attribute) else None
    if isinstance(func, ast.Attribute) and isinstance(owner, ast.Name) and _definition(mod, owner.id):
        return mod, f"{owner.id}.{func.attr}"
    name = mod.qualify(func)
    module = _module_prefix(mod.root, name) if name else None
    if not name or not module or module == name:
        return None
    path = mod.root.joinpath(*module.split(".")[1:])
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return (load(path, mod.root), name.removeprefix(module + ".")) if path.is_file() else None


def _reader(mod: Module, name: str, seen: set[tuple[Path, str]], home: Path) -> str | None:
    """Where calling ``name`` of ``mod`` reads the environment (``os.environ (line 5)``, with the module's
    path when it is not ``home``, the module being judged), or None."""
    if (mod.path, name) in seen:
        return None
    seen.add((mod.path, name))
    for definition in _definition(mod, name):
        for node in ast.walk(definition):
            spelling = _read(mod, node)
            if spelling:
                where = "" if mod.path == home else f"{mod.path.relative_to(mod.root).as_posix()} "
                return f"{spelling} ({where}line {getattr(node, 'lineno', 0)})"
            callee = _callee(mod, node.func) if isinstance(node, ast.Call) else None
            found = _reader(*callee, seen, home) if callee else None
            if found:
                return found
    return None


def _handed(mod: Module, nodes: list[ast.AST]) -> list[str]:
    """A local function or class named at import time other than as the callee (a decorator, a metaclass,
    ``map(f, ...)``, ``field(default_factory=f)``, a table of handlers) is taken as run at import time:
    what it is handed to may call it then, and no rule could tell when."""
    callees = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    problems = []
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in callees:
            reader = _reader(mod, node.id, set(), mod.path) if _definition(mod, node.id) else None
            if reader:
                problems.append(
                    f"line {node.lineno}: hands {node.id} on at import time, which reads {reader}"
                )
    return problems


def environment_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    nodes = _import_time_nodes(mod.tree.body)
    problems = _handed(mod, nodes)
    for node in nodes:
        spelling = _read(mod, node)
        if spelling:
            problems.append(f"line {getattr(node, 'lineno', 0)}: reads {spelling} at import time")
        if spelling or not isinstance(node, ast.Call):
            continue
        callee = _callee(mod, node.func)
        reader = _reader(*callee, set(), mod.path) if callee else None
        if callee and reader:
            shown = callee[1] if callee[0] is mod else mod.qualify(node.func)
            problems.append(f"line {node.lineno}: calls {shown}() at import time, which reads {reader}")
    return _by_line(problems)
