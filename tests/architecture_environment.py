"""Rule 7 of the architecture (docs/architecture.md, "Environment"): no module reads the process environment
at import time, through any spelling (``os.environ``, ``from os import getenv``, ``getattr(os, "environ")``,
``posix.environ``); cli/ builds the settings when a command runs.

Import time is what runs when the module is imported: its top-level statements, class bodies, decorators
and default arguments, and every function those call. A module-level ``SETTINGS = _load()`` reads the
environment if ``_load`` does, or a function it calls, or ``__init__`` of a class instantiated there, in
this module or another module of the package (followed by name, the way the import walk resolves names).
A function or class of the package (local or imported) named at import time but not called there (a
decorator, a base class, a metaclass, ``map(config.load, ...)``, a dataclass ``default_factory``) is taken
as run then, and so is a property or method read on a module-level instance of a local class. Not
followed: calls through values (``SETTINGS = loader()`` where ``loader`` is bound at run time).
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

# What naming class C at import time may run: ``C()`` its constructors, ``class D(C)`` its
# ``__init_subclass__``, ``C[int]`` its ``__class_getitem__``.
CONSTRUCTORS = ("__new__", "__init__", "__post_init__", "__init_subclass__", "__class_getitem__")
# Libraries that read the environment or the process's working directory when called: rich's Console
# (NO_COLOR, FORCE_COLOR, COLUMNS, LINES, TERM), click/typer's app dir (XDG_CONFIG_HOME, ~), the terminal
# size (COLUMNS, LINES), the working directory. Made at import time, they freeze what a command should read
# when it runs.
LIBRARY_READERS = {
    "rich.console.Console", "rich.get_console", "rich.print", "rich.reconfigure", "typer.get_app_dir",
    "click.get_app_dir", "click.utils.get_app_dir", "shutil.get_terminal_size", "os.get_terminal_size",
    "os.getcwd", "os.getcwdb", "os.path.abspath", "os.path.realpath", "posixpath.abspath",
    "posixpath.realpath", "pathlib.Path.cwd", "pathlib.Path.absolute", "pathlib.Path.resolve",
}  # fmt: skip
# pathlib's methods that read the working directory, by name on any value (``Path("x").resolve()``); the
# class methods ``Path.cwd``/``Path.home`` are judged by their qualified names
PATH_METHODS = {"absolute", "resolve"}


def _read(mod: Module, node: ast.AST) -> str | None:
    """The spelling of the environment ``node`` reads, or None."""
    if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_ATTRIBUTES:
        if node.attr.startswith("expand"):  # os.path's, or pathlib.Path's on a value
            return mod.qualify(node) if mod.qualify(node) in ENVIRONMENT else f".{node.attr}"
        return f"os.{node.attr}"
    if isinstance(node, ast.Attribute) and mod.qualify(node) in ENVIRONMENT:  # ``pathlib.Path.home``
        return mod.qualify(node)
    name = mod.qualify(node) if isinstance(node, ast.Name | ast.Call) else None
    if name and any(_matches(name, env) for env in ENVIRONMENT | LIBRARY_READERS):
        return name
    if isinstance(node, ast.Attribute) and mod.qualify(node) in LIBRARY_READERS:
        return mod.qualify(node)
    if isinstance(node, ast.Attribute) and node.attr in PATH_METHODS and not _of_this_file(node.value):
        return f".{node.attr}"
    return None


def _of_this_file(node: ast.expr) -> bool:
    """``Path(__file__)``: a module's ``__file__`` is absolute (Python 3.9+, the import system), so its
    ``.resolve()`` reads no working directory."""
    return (
        isinstance(node, ast.Call)
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "__file__"
    )


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


def _instances(mod: Module) -> dict[str, str]:
    """Module-level names bound to an instance of a local class (``SETTINGS = Settings()``) -> the class."""
    out: dict[str, str] = {}
    for stmt in mod.tree.body:
        value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            cls = value.func.id
            if any(isinstance(s, ast.ClassDef) and s.name == cls for s in mod.tree.body):
                out.update({t.id: cls for t in targets if isinstance(t, ast.Name)})
    return out


def _callee(mod: Module, func: ast.expr) -> tuple[Module, str] | None:
    """(module, top-level name) a call reaches: a local function or class, a method of a module-level
    instance of a local class (``SETTINGS.home()``, or a property read ``SETTINGS.home``), or a function
    or class of another module of the package."""
    if isinstance(func, ast.Name) and _definition(mod, func.id):
        return mod, func.id
    owner = func.value if isinstance(func, ast.Attribute) else None
    if isinstance(func, ast.Attribute) and isinstance(owner, ast.Name) and _definition(mod, owner.id):
        return mod, f"{owner.id}.{func.attr}"
    cls = _instances(mod).get(owner.id) if isinstance(owner, ast.Name) else None
    if isinstance(func, ast.Attribute) and cls is not None:
        return mod, f"{cls}.{func.attr}"
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
    """A function or class of the package named at import time other than as the callee (a decorator, a
    base class, a metaclass, ``map(f, ...)``, ``field(default_factory=f)``, a table of handlers), local or
    imported from another module, is taken as run at import time: what it is handed to may call it then,
    and no rule could tell when. So is a property or method read on a module-level instance of a local
    class (``HOME = SETTINGS.home``)."""
    callees = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    problems = []
    for node in nodes:
        named = isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load)
        if not named or id(node) in callees | inner:
            continue
        callee = _callee(mod, node)  # type: ignore[arg-type]
        reader = _reader(*callee, set(), mod.path) if callee else None
        if callee and reader:
            shown = callee[1] if callee[0] is mod else mod.qualify(node)  # type: ignore[arg-type]
            problems.append(f"line {node.lineno}: hands {shown} on at import time, which reads {reader}")  # type: ignore[attr-defined]
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
