"""What no import rule could follow, refused in every module (docs/architecture.md, "Rules"): a dynamic
import whose name, ``package`` or level is computed, an importer handed on as a value, code loaders,
``sys.modules`` and namespaces, ``getattr`` of a computed name on a module or builtin, and readers of
attributes by a name given as data (``operator.attrgetter``, ``__getattribute__``, format fields).

The literal dynamic imports themselves are imports of the walk (:class:`tests.architecture_rules.Module`).
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

from tests.architecture_rules import (
    DYNAMIC_IMPORT_NAMES,
    SRC,
    Module,
    _by_line,
    _is_getattr,
    _literal_str,
    _matches,
    _tail,
    load,
)

DYNAMIC_IMPORTS = {
    "importlib.import_module", "importlib.__import__", "builtins.__import__", "pkgutil.resolve_name",
}  # fmt: skip
CODE_LOADERS = {  # run code that the import walk cannot see at all (any name under these)
    "importlib.util.spec_from_file_location", "importlib.util.module_from_spec", "importlib.machinery",
    "runpy", "zipimport", "pkgutil.get_importer", "pkgutil.iter_modules", "pkgutil.walk_packages",
    "builtins.exec", "builtins.eval", "builtins.compile",
}  # fmt: skip
# Reading or writing an attribute by a computed name: on an imported module or a builtin no rule could
# tell which name is reached (``getattr(builtins, "op" + "en")``). On a value it is ordinary (a record's
# fields by dataclasses.fields). ``vars``/``globals``/``__dict__`` hand out a whole namespace.
COMPUTED_ACCESS = {  # (owner, name, ...) -> the attribute; the owner is judged, so record fields pass
    "builtins.getattr", "builtins.setattr", "builtins.delattr", "builtins.hasattr",
    "builtins.object.__getattribute__", "inspect.getattr_static",
}  # fmt: skip
NAMESPACES = {"builtins.vars", "builtins.globals", "builtins.locals"}
# Readers of attributes by a name given as data, on whatever object they are later handed: refused as a
# mechanism (the rule cannot tell a record from a module), with the uses below as reviewed exceptions.
NAME_READERS = {"operator.attrgetter", "operator.methodcaller"}
NAME_READER_EXCEPTIONS = {  # (module path under src/swarmscope, reader) -> why it may
    ("store/ledger/record_rows.py", "operator.attrgetter"): "a record's declared fields, on records only",
}
DUNDER_READERS = {"__getattribute__", "__getattr__"}  # ``os.__getattribute__("environ")`` on any owner
FORMATTERS = {"format", "format_map"}  # ``"{0.environ[HOME]}".format(os)`` reads attributes by name


def dynamic_import_problems(path: Path, root: Path = SRC) -> list[str]:
    """A dynamic import must name its module literally (then the other rules check it like an import)."""
    mod = load(path, root)
    problems = []
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Call):
            continue
        name = mod.qualify(node.func)
        if mod.importer(node) and mod._dynamic_target(node) is None:
            shown = name or f".{_tail(node.func)}"
            problems.append(f"line {node.lineno}: {shown}() of a computed name; import the module statically")
        elif name and any(_matches(name, loader) for loader in CODE_LOADERS):
            problems.append(f"line {node.lineno}: {name}() runs code the import rules cannot see")
    called = {id(node.func) for node in ast.walk(mod.tree) if isinstance(node, ast.Call)}
    for ref, name, _ in mod.references():
        if (
            _matches(name, "sys.modules")
            or name.endswith(".__dict__")
            or _matches(name, "builtins.__builtins__")
        ):
            problems.append(f"line {ref.lineno}: reaches a module through {name}; import it statically")
        elif any(_matches(name, loader) for loader in CODE_LOADERS) and id(ref) not in called:
            problems.append(f"line {ref.lineno}: uses {name}, which runs code the import rules cannot see")
    return _by_line(problems + _importers_as_values(mod, called) + _computed_access(mod))


def _importers_as_values(mod: Module, called: set[int]) -> list[str]:
    """An importer (``import_module``, ``__import__``, ``resolve_name``, under any owner) that is not
    called where it is named is handed on (``functools.partial(importlib.import_module, ...)``, a tuple, a
    default): whoever calls it later imports a module no rule sees."""
    problems = []
    for node in ast.walk(mod.tree):
        tail = _tail(node) if isinstance(node, ast.Name | ast.Attribute) else None
        tail = mod.importers.get(tail, tail) if isinstance(node, ast.Name) else tail  # type: ignore[arg-type]
        if _is_getattr(node):
            tail = node.args[1].value  # type: ignore[attr-defined]
        if tail in DYNAMIC_IMPORT_NAMES and id(node) not in called:
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                continue
            problems.append(f"line {node.lineno}: hands {tail} on as a value; call it with a literal name")  # type: ignore[attr-defined]
    return problems


def _computed_access(mod: Module) -> list[str]:
    """``getattr(<module or builtin>, <computed name>)`` and ``vars``/``globals``/``locals`` anywhere, and
    ``getattr`` handed on as a value (``functools.partial(getattr, datetime.datetime, "now")``): called
    later by other code, with arguments no rule can see."""
    called = {id(node.func) for node in ast.walk(mod.tree) if isinstance(node, ast.Call)}
    problems = _name_readers(mod) + _format_fields(mod)
    problems += [
        f"line {ref.lineno}: passes {name.removeprefix('builtins.')} on as a value; "
        "call it with a literal name"
        for ref, name, _ in mod.references()
        if name in COMPUTED_ACCESS | NAMESPACES and id(ref) not in called
    ]
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Call):
            continue
        name = mod.qualify(node.func)
        owner = mod.qualify(node.args[0]) if node.args else None
        literal = len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
        if name in COMPUTED_ACCESS and owner and not literal:
            problems.append(
                f"line {node.lineno}: {name.removeprefix('builtins.')}() of a computed name on {owner}; "
                "write the name literally"
            )
        elif name in NAMESPACES and (owner or not node.args):
            problems.append(
                f"line {node.lineno}: {name.removeprefix('builtins.')}() reads a whole namespace; "
                "write the name literally"
            )
    return problems


def _name_readers(mod: Module) -> list[str]:
    """:data:`NAME_READERS` (called or handed on) off their exceptions, and ``__getattribute__`` /
    ``__getattr__`` named on any owner."""
    rel = mod.path.relative_to(mod.root).as_posix()
    problems = [
        f"line {ref.lineno}: uses {name}, which reads attributes by a name given as data; "
        "write the attribute literally"
        for ref, name, _ in mod.references()
        if any(_matches(name, r) for r in NAME_READERS)
        and not any((rel, r) in NAME_READER_EXCEPTIONS for r in NAME_READERS if _matches(name, r))
    ]
    problems += [
        f"line {node.lineno}: .{node.attr} reads an attribute by a computed name; write it literally"
        for node in ast.walk(mod.tree)
        if isinstance(node, ast.Attribute)
        and node.attr in DUNDER_READERS
        and mod.qualify(node) not in COMPUTED_ACCESS  # reported by the computed-name check
    ]
    return problems


def _format_fields(mod: Module) -> list[str]:
    """``str.format``/``format_map`` whose template reaches into its arguments (``{0.environ}``,
    ``{0[x]}``), and any such call handed an imported module or name (the template may be data)."""
    problems = []
    for node in ast.walk(mod.tree):
        if not (isinstance(node, ast.Call) and _tail(node.func) in FORMATTERS):
            continue
        owner = node.func.value if isinstance(node.func, ast.Attribute) else None
        template = node.args[0] if mod.qualify(node.func) == "builtins.str.format" and node.args else owner
        fields = _fields(template.value) if _literal_str(template) else []  # type: ignore[union-attr]
        imported = [n for n in (*node.args, *(k.value for k in node.keywords)) if _imported(mod, n)]
        if any("." in f or "[" in f for f in fields) or imported:
            problems.append(
                f"line {node.lineno}: .{_tail(node.func)}() reads attributes of its arguments by name; "
                "format plain values"
            )
    return problems


def _imported(mod: Module, node: ast.expr) -> bool:
    name = mod.qualify(node) if isinstance(node, ast.Name | ast.Attribute) else None
    return bool(name) and not name.startswith("builtins.")  # type: ignore[union-attr]


def _fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError:
        return []
