"""The import rules of the architecture, as functions over one module's source (used by test_architecture).

Every rule reads the module's AST and returns problem lines (``"line N: ..."``); an empty list means the
module obeys it. The walk sees through the usual dodges: a dynamic import with a literal name counts as an
import (a computed name is itself a problem, since no rule could check it), a name imported from a module
(``from os import urandom``, ``from time import time as clock``), bound to a plain name
(``Clock = datetime.datetime``) or reached through ``getattr`` with a literal name is resolved to its full
dotted name, an attribute chain on an imported package (``swarmscope.cli.letters`` after
``import swarmscope``) is an import of its longest module prefix, and a function-level import is an import
like any other (an import cycle hidden inside a function is still a cycle). What no rule could follow
(``getattr`` of a computed name on a module, ``vars``/``globals``, ``sys.modules``, code loaders) is
refused in every module (:mod:`tests.architecture_dynamic`).

1. Layers: imports point down only; siblings in one layer never import each other; no import cycles.
2. wire/, evidence/ and the pure policy modules do no I/O (files, sockets, terminal), read no clock, draw
   no randomness (:mod:`tests.architecture_purity`).
3. Every package imports from outside the project only its allow-list: only net/ opens sockets (and
   speaks HTTP/SMTP); only store/ talks to the database; only attribution/ reads IP datasets
   (:mod:`tests.architecture_network`).
4. No module reads the environment at import time, through any spelling
   (:mod:`tests.architecture_environment`).
5. A cli/ module imports no other command module (:mod:`tests.architecture_cli`).
6. No module re-exports (:mod:`tests.architecture_exports`).
"""

from __future__ import annotations

import ast
import builtins
import functools
from dataclasses import dataclass
from pathlib import Path

from tests.architecture_loaders import loader_target

SRC = Path(__file__).resolve().parents[1] / "src" / "swarmscope"

LAYERS = {
    "errors": 0,
    "__init__": 0,
    "wire": 1,
    "evidence": 2,
    "net": 3,
    "store": 3,
    "attribution": 3,
    "netns": 3,
    "reference": 3,
    "monitor": 4,
    "cases": 4,
    "testbed": 4,
    "research": 4,
    "web": 5,
    "cli": 6,
    "__main__": 7,  # python -m swarmscope: the cli entry point, nothing else
}
ENVIRONMENT = {  # every spelling of the process environment (os re-exports posix/nt; ~ is $HOME)
    "os.environ", "os.environb", "os.getenv", "os.getenvb", "posix.environ", "nt.environ",
    "os.path.expandvars", "os.path.expanduser", "posixpath.expandvars", "posixpath.expanduser",
    "pathlib.Path.home",
    # the standard library's readers of the environment: TMPDIR/TEMP/TMP, PATH, LOGNAME/USER/LNAME/USERNAME
    "tempfile.gettempdir", "tempfile.gettempdirb", "tempfile.mkdtemp", "tempfile.mkstemp",
    "tempfile.TemporaryDirectory", "tempfile.NamedTemporaryFile", "tempfile.TemporaryFile",
    "tempfile.SpooledTemporaryFile", "shutil.which", "getpass.getuser", "locale.getdefaultlocale",
}  # fmt: skip
ENVIRONMENT_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "expandvars", "expanduser"}
_BUILTINS = set(dir(builtins)) | {"__builtins__"}  # ``__builtins__``: the builtins module (or its dict)


@dataclass(frozen=True)
class ImportRef:
    """One import: ``module`` (absolute dotted), names taken from it (none for ``import m``), its line."""

    module: str
    names: tuple[str, ...]
    line: int


class Module:
    """A parsed source file of the package under ``root`` (``.../swarmscope``)."""

    def __init__(self, path: Path, root: Path, text: str) -> None:
        self.path, self.root = path, root
        self.tree = ast.parse(text, str(path))
        rel = path.relative_to(root)
        self.top = rel.parts[0].removesuffix(".py")
        parts = ["swarmscope", *rel.with_suffix("").parts]
        self.name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        self.package = ["swarmscope", *rel.parent.parts]
        self.importers = _importer_aliases(self.tree)
        self.refs = self._imports()
        self.aliases = self._aliases()
        self.refs += self._attribute_refs()

    def _absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        base = self.package[: len(self.package) - level + 1]
        return ".".join(base + ([module] if module else []))

    def _dynamic_target(self, node: ast.Call) -> str | None:
        """The module a literal ``import_module("x")`` / ``__import__("x")`` loads, None when any part of
        the name is computed. A relative name is resolved against a literal ``package`` argument
        (``import_module(".clock", "swarmscope.net")``, importlib's own rule) or, without one or with
        ``__package__``, against this module's package; ``__import__``'s ``level`` must be a literal too."""
        first = node.args[0] if node.args else _keyword(node, "name")
        if not _literal_str(first):
            return None
        name: str = first.value.replace(":", ".")  # type: ignore[union-attr]  # pkgutil.resolve_name
        level = len(name) - len(name.lstrip("."))
        package = node.args[1] if len(node.args) > 1 else _keyword(node, "package")
        if self.importer(node) == "__import__":
            raw = node.args[4] if len(node.args) > 4 else _keyword(node, "level")
            if raw is not None and not (isinstance(raw, ast.Constant) and isinstance(raw.value, int)):
                return None
            level, package = (raw.value if raw is not None else 0), None  # type: ignore[union-attr]
        if isinstance(package, ast.Name) and package.id == "__package__":
            package = None  # this module's own package
        if package is not None:
            if not _literal_str(package):
                return None
            base = package.value.split(".")  # type: ignore[union-attr]
            base = base[: len(base) - level + 1] if level else []
            return ".".join([*base, name.lstrip(".")] if name.lstrip(".") else base)
        return self._absolute(name.lstrip(".") or None, level)

    def _imports(self) -> list[ImportRef]:
        out: list[ImportRef] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                out += [ImportRef(alias.name, (), node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = self._absolute(node.module, node.level)
                out.append(ImportRef(module, tuple(a.name for a in node.names), node.lineno))
            elif isinstance(node, ast.Call) and self.importer(node):
                target = self._dynamic_target(node)
                if target:
                    out.append(ImportRef(target, _fromlist(node, self.importer(node)), node.lineno))
            elif isinstance(node, ast.Call) and (loaded := loader_target(node, _tail(node.func))):
                out.append(ImportRef(loaded, (), node.lineno))  # tests/architecture_loaders.py
        return out

    def importer(self, node: ast.AST) -> str | None:
        """The importer a call runs (``import_module``/``__import__``/``resolve_name``) by its last name under
        any owner, or through an import alias (``from importlib import import_module as load``); else None."""
        if not isinstance(node, ast.Call):
            return None
        tail = _tail(node.func)
        if tail in DYNAMIC_IMPORT_NAMES:
            return tail
        return self.importers.get(tail) if isinstance(node.func, ast.Name) else None  # type: ignore[arg-type]

    def _aliases(self) -> dict[str, str]:
        """Local name -> the dotted name it is bound to by an import anywhere in the module."""
        out: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    out[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom):
                module = self._absolute(node.module, node.level)
                out.update({a.asname or a.name: f"{module}.{a.name}" for a in node.names if a.name != "*"})
            elif isinstance(node, ast.Assign) and self.importer(node.value):
                target = self._dynamic_target(node.value)  # type: ignore[arg-type]
                if target and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = target
        self.aliases = out
        for node in ast.walk(self.tree):  # ``Clock = datetime.datetime``: a plain name for an imported one
            for name, value in _bindings(node):
                bound = self.qualify(value)  # a name, an attribute chain or a literal getattr
                if bound and name != bound:
                    out[name] = bound
        return out

    def _attribute_refs(self) -> list[ImportRef]:
        """Modules of the package reached by an attribute chain, as imports: ``swarmscope.cli.letters``
        after ``import swarmscope`` imports the module ``swarmscope.cli.letters`` (its longest prefix)."""
        reached = {r.module for r in self.refs} | {f"{r.module}.{n}" for r in self.refs for n in r.names}
        out: list[ImportRef] = []
        for node, name, _ in self.references():
            module = _module_prefix(self.root, name)
            if module and module not in reached:
                reached.add(module)
                out.append(ImportRef(module, (), node.lineno))
        return out

    def qualify(self, node: ast.AST) -> str | None:
        """The full dotted name an expression refers to (``u`` after ``from os import urandom as u``)."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            return f"builtins.{node.id}" if node.id in _BUILTINS else None
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        if _is_getattr(node):
            assert isinstance(node, ast.Call)
            base = self.qualify(node.args[0])
            return f"{base}.{node.args[1].value}" if base else None  # type: ignore[attr-defined]
        if isinstance(node, ast.Call) and self.importer(node):  # ``import_module("a.b").c``
            target = self._dynamic_target(node)
            plain = self.importer(node) == "__import__" and not _fromlist(node, "__import__")
            return target.split(".")[0] if target and plain else target  # __import__("a.b") returns a
        return None

    def references(self) -> list[tuple[ast.expr, str, bool]]:
        """Every outermost name/attribute chain that resolves: (node, dotted name, is it called?)."""
        inner: set[int] = set()
        called: set[int] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                inner.add(id(node.value))
            elif _is_getattr(node):
                assert isinstance(node, ast.Call)
                inner.add(id(node.args[0]))
            if isinstance(node, ast.Call):
                called.add(id(node.func))
        out: list[tuple[ast.expr, str, bool]] = []
        for node in ast.walk(self.tree):
            if id(node) in inner or not isinstance(node, ast.Name | ast.Attribute | ast.Call):
                continue
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                continue  # ``now = ...`` binds the name; its uses are the references
            name = self.qualify(node)
            if name:
                out.append((node, name, id(node) in called))
        return out


@functools.cache
def _module_prefix(root: Path, name: str) -> str | None:
    """The longest prefix of a dotted ``swarmscope.`` name that is a module or package under ``root``."""
    parts = name.split(".")
    if parts[0] != "swarmscope":
        return None
    for end in range(len(parts), 1, -1):
        path = root.joinpath(*parts[1:end])
        if path.with_suffix(".py").is_file() or path.is_dir():
            return ".".join(parts[:end])
    return None


def _pairs(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr]]:
    """(name, expression) of one assignment target: ``a, b = x, y`` pairs element by element."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    targets = target.elts if isinstance(target, ast.Tuple | ast.List) else None
    values = value.elts if isinstance(value, ast.Tuple | ast.List) else None
    if targets is not None and values is not None and len(targets) == len(values):
        return [pair for t, v in zip(targets, values, strict=True) for pair in _pairs(t, v)]
    return []


def _bindings(node: ast.AST) -> list[tuple[str, ast.expr]]:
    """Names a statement binds to an expression: an assignment (plain, annotated, unpacked, ``:=``), a
    parameter's default (``def f(clock=datetime.datetime.now)``) and a class to its bases (``T.now`` of
    ``class T(datetime.datetime)`` is ``datetime.datetime.now``)."""
    if isinstance(node, ast.Assign):
        return [pair for target in node.targets for pair in _pairs(target, node.value)]
    if isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
        return _pairs(node.target, node.value)
    if isinstance(node, ast.ClassDef):
        return [(node.name, base) for base in node.bases[:1]]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
        pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
        return [(arg.arg, default) for arg, default in pairs]
    return []


def _is_getattr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def _tail(func: ast.expr) -> str | None:
    """The last name of a called expression (``import_module`` of ``inspect.importlib.import_module``)."""
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _fromlist(node: ast.Call, importer: str | None) -> tuple[str, ...]:
    """The literal names of ``__import__``'s ``fromlist`` (each loaded as a submodule when it is one)."""
    if importer != "__import__":
        return ()
    raw = node.args[3] if len(node.args) > 3 else _keyword(node, "fromlist")
    items = raw.elts if isinstance(raw, ast.List | ast.Tuple) else []
    return tuple(i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str))


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _literal_str(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


DYNAMIC_IMPORT_NAMES = {"import_module", "__import__", "resolve_name"}


def _importer_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> importer of every ``from M import import_module as load`` (or ``__import__``,
    ``resolve_name``), whatever ``M`` is (``importlib``, ``builtins``, ``pkgutil``, a relay)."""
    found = (a for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names)
    return {a.asname or a.name: a.name for a in found if a.name in DYNAMIC_IMPORT_NAMES}


def _matches(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def _by_line(problems: list[str]) -> list[str]:
    """Problems in source order (stable: problems of one line keep the order they were found in)."""
    return sorted(problems, key=lambda p: int(p.split(":")[0].removeprefix("line ")))


def _describe(name: str, is_called: bool) -> str:
    return f"calls {name.removeprefix('builtins.')}()" if is_called else f"uses {name}"


@functools.cache
def _parsed(path: Path, root: Path, text: str) -> Module:
    return Module(path, root, text)


def load(path: Path, root: Path = SRC) -> Module:
    """The parsed module (parsed once per content: every rule walks the same tree)."""
    return _parsed(path, root, path.read_text())


def modules(root: Path = SRC) -> list[Path]:
    return sorted(root.rglob("*.py"))


def imported_names(mod: Module) -> list[tuple[str, int]]:
    """Absolute dotted names the module imports (``from m import n`` gives ``m`` and ``m.n``), with lines."""
    out: list[tuple[str, int]] = []
    for ref in mod.refs:
        out.append((ref.module, ref.line))
        out += [(f"{ref.module}.{name}", ref.line) for name in ref.names]
    return out


def layer_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    me = mod.top
    if me not in LAYERS:
        return [f"top-level module {me!r} has no layer; add it to LAYERS"]
    problems = []
    for name, line in imported_names(mod):
        if not name.startswith("swarmscope."):
            continue
        other = name.split(".")[1]
        if other not in LAYERS or other == me:
            continue
        if LAYERS[other] > LAYERS[me]:
            problems.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {name} (layer {LAYERS[other]})")
        elif LAYERS[other] == LAYERS[me] and LAYERS[me] > 0:
            problems.append(f"line {line}: siblings {me} and {other} must not import each other")
    return _by_line(problems)


def _import_time_nodes(statements: list[ast.stmt]) -> list[ast.AST]:
    """The nodes evaluated when the module is imported: not function bodies, but defaults and decorators."""
    out: list[ast.AST] = []
    for stmt in statements:
        if _main_guard(stmt):
            continue  # ``if __name__ == "__main__":`` runs the module as a program, never on import
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            parts: list[ast.AST] = [*stmt.decorator_list, *stmt.args.defaults]
            parts += [d for d in stmt.args.kw_defaults if d is not None]
        elif isinstance(stmt, ast.ClassDef):
            parts = [*stmt.decorator_list, *stmt.bases, *stmt.keywords]
            out += _import_time_nodes(stmt.body)
        else:
            children = list(ast.iter_child_nodes(stmt))
            out.append(stmt)
            out += _import_time_nodes([c for c in children if isinstance(c, ast.stmt)])
            parts = [c for c in children if not isinstance(c, ast.stmt)]
        for part in parts:
            out += ast.walk(part)
    return out


def _main_guard(stmt: ast.stmt) -> bool:
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )
