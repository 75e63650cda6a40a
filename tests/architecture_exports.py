"""No re-exports (docs/architecture.md, "Rooms"): a name is imported from the module that defines it.

A module that imports a name and hands it on (``from .case_rows import CaseRow`` in ``cases.py``, then
``from swarmscope.store.legal.cases import CaseRow`` elsewhere) hides where the name lives, keeps a moved
module's old path alive and invites import cycles. So an import of a name from a module of the package is
refused when that module only imports it (or binds it to another module's name, ``Row = case_rows.Row``)
and does not define it; so is a module that advertises re-exports (``__all__`` naming imported names,
``import x as x``). A submodule of a package is not a re-export (``from swarmscope.store.legal import
cases``).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.architecture_rules import SRC, Module, _by_line, _module_prefix, load


def _top_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under ``if``/``try``/``with``/``for``/``while``/``match``
    (``if TYPE_CHECKING:``): every block that binds module names."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If | ast.Try | ast.TryStar | ast.With | ast.For | ast.AsyncFor | ast.While):
            nested = [*stmt.body, *getattr(stmt, "orelse", []), *getattr(stmt, "finalbody", [])]
            nested += [s for handler in getattr(stmt, "handlers", []) for s in handler.body]
            out += _top_statements(nested)
        elif isinstance(stmt, ast.Match):
            out += _top_statements([s for case in stmt.cases for s in case.body])
    return out


def _global_imports(mod: Module) -> dict[str, str]:
    """Names a function declares ``global`` and then imports (``global Row; from m import Row``): module
    names bound to another module's name when the function runs."""
    out: dict[str, str] = {}
    for func in ast.walk(mod.tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        declared = {n for g in ast.walk(func) if isinstance(g, ast.Global) for n in g.names}
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom):
                module = mod._absolute(node.module, node.level)
                out.update(
                    {
                        (a.asname or a.name): f"{module}.{a.name}"
                        for a in node.names
                        if (a.asname or a.name) in declared
                    }
                )
            elif isinstance(node, ast.Import):
                out.update(
                    {a.asname or a.name: a.name for a in node.names if (a.asname or a.name) in declared}
                )
    return out


def _class_attributes(mod: Module, root: Path, cls: ast.ClassDef) -> dict[str, str]:
    """``Rows.Row`` -> the other module's name a class attribute is bound to (``class Rows: Row = m.Row``)."""
    out: dict[str, str] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            out.update({f"{cls.name}.{n}": src for n, src in _bound(mod, root, stmt) if src})
    return out


@functools.cache
def bindings(path: Path, root: Path) -> tuple[dict[str, str], set[str]]:
    """(name -> where it comes from, for names the module only imports or aliases; names it defines)."""
    mod = load(path, root)
    handed: dict[str, str] = {}
    defined: set[str] = set()
    for stmt in _top_statements(mod.tree.body):
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                handed[local] = mod.aliases.get(local, alias.name)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(stmt.name)
            handed.update(_class_attributes(mod, root, stmt) if isinstance(stmt, ast.ClassDef) else {})
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.For | ast.AsyncFor):
            for name, source in _bound(mod, root, stmt):
                if source:
                    handed[name] = source
                else:
                    defined.add(name)
        for walrus in _walruses(stmt):  # ``if (Row := m.Row):`` binds a module name too
            sources = _sources(mod, root, walrus.value, False)
            if sources:
                handed[walrus.target.id] = sources[0]
            else:
                defined.add(walrus.target.id)
    handed.update(_global_imports(mod))
    return {n: src for n, src in handed.items() if n not in defined}, defined


def _walruses(stmt: ast.stmt) -> list[ast.NamedExpr]:
    """The ``:=`` of one module-level statement's own expressions (not inside a def, class or lambda)."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return []
    out, todo = [], [c for c in ast.iter_child_nodes(stmt) if not isinstance(c, ast.stmt)]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.NamedExpr):
            out.append(node)
        if not isinstance(node, ast.Lambda):
            todo += list(ast.iter_child_nodes(node))
    return out


def _bound(mod: Module, root: Path, stmt: ast.stmt) -> list[tuple[str, str | None]]:
    """(name, another module's name it may be bound to, or None) of every name a module-level assignment
    or ``for`` target binds: ``Row = m.Row``, ``Row, = (m.Row,)``, ``Row = m.Row if c else None``, ``for
    Row in (m.Row,)``. A name bound to anything that may be another module's name is handed on."""
    if isinstance(stmt, ast.For | ast.AsyncFor):
        targets, value = [stmt.target], stmt.iter
    else:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[attr-defined]
        value = stmt.value  # type: ignore[attr-defined]
    unpacked = isinstance(stmt, ast.For | ast.AsyncFor) or any(
        isinstance(t, ast.Tuple | ast.List) for t in targets
    )
    sources = _sources(mod, root, value, unpacked) if value is not None else []
    names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return [(name, sources[0] if sources else None) for name in names]


def _sources(mod: Module, root: Path, value: ast.expr, unpacked: bool) -> list[str]:
    """Other modules' names an expression may evaluate to: through conditionals and ``or``/``and``, and
    into tuples, lists, sets and starred items when the target unpacks or iterates them (a tuple bound
    whole, ``CHECKS = (check_a, check_b)``, is a new value); a call's result is its own."""
    if isinstance(value, ast.IfExp):
        return _sources(mod, root, value.body, unpacked) + _sources(mod, root, value.orelse, unpacked)
    if isinstance(value, ast.BoolOp):
        return [s for v in value.values for s in _sources(mod, root, v, unpacked)]
    if isinstance(value, ast.Tuple | ast.List | ast.Set | ast.Starred):
        elements = value.elts if not isinstance(value, ast.Starred) else [value.value]
        return [s for v in elements for s in _sources(mod, root, v, unpacked)] if unpacked else []
    if isinstance(value, ast.Call) and mod.qualify(value.func) in IDENTITIES and len(value.args) == 2:
        return _sources(mod, root, value.args[1], unpacked)  # ``typing.cast(type, m.Row)`` is ``m.Row``
    if isinstance(value, ast.NamedExpr):
        return _sources(mod, root, value.value, unpacked)
    bound = mod.qualify(value)
    return [bound] if bound and _module_prefix(root, bound) == bound.rsplit(".", 1)[0] else []


def _module_path(root: Path, module: str) -> Path | None:
    path = root.joinpath(*module.split(".")[1:])
    if path.is_dir():
        return path / "__init__.py" if (path / "__init__.py").is_file() else None
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _reexport(root: Path, name: str) -> tuple[str, str, str] | None:
    """(module, where it comes from, the name in it) when ``name`` (``swarmscope.m.N``, ``swarmscope.m.C.N``)
    is a name ``m`` only hands on."""
    module = _module_prefix(root, name)
    rest = name.removeprefix(f"{module}.").split(".") if module and module != name else []
    path = _module_path(root, module) if module and rest else None
    if path is None:
        return None
    handed, defined = bindings(path, root)
    for key in (rest[0], ".".join(rest[:2])):  # a module name, or an attribute of a class of the module
        if key in handed:
            return module, handed[key], key  # type: ignore[return-value]
    if "__getattr__" in defined and rest[0] not in defined:  # answered by its PEP 562 hook
        return module, f"{module}.__getattr__", rest[0]  # type: ignore[return-value]
    return None


IDENTITIES = {"typing.cast", "typing_extensions.cast"}  # return their second argument unchanged
MODULE_HOOKS = {"__getattr__", "__dir__"}  # PEP 562: a module answering for names it does not bind
MODULE_HOOK_EXCEPTIONS: dict[str, str] = {}  # module path under src/swarmscope -> why it may


def _module_hooks(mod: Module) -> list[str]:
    """A module-level ``__getattr__``/``__dir__`` (PEP 562), defined or bound: it hands out any name on
    demand (a moved name kept importable), which no import rule could follow."""
    if mod.path.relative_to(mod.root).as_posix() in MODULE_HOOK_EXCEPTIONS:
        return []
    problems = []
    for stmt in _top_statements(mod.tree.body):
        names = [stmt.name] if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) else []
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
        problems += [
            f"line {stmt.lineno}: module-level {n} (PEP 562) hands out names on demand; import them "
            "from where they are defined"
            for n in names
            if n in MODULE_HOOKS
        ]
    return problems


def _advertised(mod: Module) -> list[str]:
    """``__all__`` naming names the module does not define, ``from x import a as a``, PEP 562 hooks."""
    handed, _ = bindings(mod.path, mod.root)
    problems = _module_hooks(mod)
    for stmt in _top_statements(mod.tree.body):
        if isinstance(stmt, ast.ImportFrom | ast.Import):
            same = [a.name for a in stmt.names if a.asname and a.asname == a.name.split(".")[-1]]
            problems += [f"line {stmt.lineno}: `import {n} as {n}` re-exports {n}" for n in same]
        if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
            problems.append(f"line {stmt.lineno}: `from {stmt.module or '.'} import *` re-exports its names")
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            listed = [e.value for e in ast.walk(stmt.value) if isinstance(e, ast.Constant)]  # type: ignore[attr-defined]
            problems += [f"line {stmt.lineno}: __all__ re-exports {n}" for n in listed if n in handed]
    return problems


def reexport_problems(path: Path, root: Path = SRC) -> list[str]:
    """Names imported from a module that does not define them, and re-exports a module advertises."""
    mod = load(path, root)
    named = [(ref.line, f"{ref.module}.{n}") for ref in mod.refs for n in ref.names]
    named += [(node.lineno, name) for node, name, _ in mod.references() if name.startswith("swarmscope.")]
    problems: dict[tuple[str, str], str] = {}  # (module, name) -> its first use
    for line, name in sorted(named):
        found = _reexport(root, name)
        if found and found[0] != mod.name:
            module, source, short = found
            problems.setdefault(
                (module, short),
                f"line {line}: {short} is re-exported by {module}; import it from where it is defined "
                f"({source})",
            )
    return _by_line(list(problems.values()) + _advertised(mod))
