"""Import rules of ../shared/ARCHITECTURE.md, enforced by walking every module's AST.

1. Layers: imports point down only; siblings in one layer never import each other.
2. wire/, evidence/ and the pure policy modules do no I/O, read no clock, draw no randomness.
3. Only net/ opens sockets (and speaks HTTP); only store/ talks to the database; only attribution/ reads IP
   datasets. testbed/ is the exception for sockets: it runs foreign software to build test swarms.
4. No module reads the environment at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
    "monitor": 4,
    "cases": 4,
    "testbed": 4,
    "cli": 5,
    "web": 5,
}
PURE_PACKAGES = {"wire", "evidence"}
PURE_MODULES = {"monitor/plan.py", "cases/workflow.py"}
IMPURE_IMPORTS = {
    "asyncio",
    "socket",
    "ssl",
    "sqlite3",
    "threading",
    "subprocess",
    "logging",
    "random",
    "secrets",
    "select",
    "selectors",
    "multiprocessing",
    "concurrent",
    "time",
    "httpx",
    "sqlalchemy",
    "alembic",
    "urllib.request",
    "http.client",
    "uvloop",
}
CLOCK_OR_RANDOM_CALLS = {
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("os", "urandom"),
    ("os", "getrandom"),
}
OWNED_IMPORTS = {  # third-party or stdlib module -> the only top-level packages allowed to import it
    "socket": {"net", "testbed"},
    "httpx": {"net"},
    "http.client": {"net", "testbed"},
    "urllib.request": {"net", "testbed"},
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "sqlite3": {"store"},
    "psycopg": {"store"},
    "maxminddb": {"attribution"},
    "geoip2": {"attribution"},
    "ntplib": {"net"},
    "aiosmtplib": {"net"},
    "aiosmtpd": {"testbed"},
}


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def top_of(path: Path, root: Path = SRC) -> str:
    rel = path.relative_to(root)
    return rel.parts[0].removesuffix(".py")


def imported_names(tree: ast.AST, path: Path, root: Path = SRC) -> list[tuple[str, int]]:
    """Absolute dotted names imported by the module (relative imports resolved)."""
    out: list[tuple[str, int]] = []
    pkg = ["swarmscope", *path.relative_to(root).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            out += [(f"{mod}.{alias.name}", node.lineno) for alias in node.names]
    return out


def _matches(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def layer_problems(path: Path, root: Path = SRC) -> list[str]:
    me = top_of(path, root)
    if me not in LAYERS:
        return [f"top-level module {me!r} has no layer; add it to LAYERS"]
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for name, line in imported_names(tree, path, root):
        if not name.startswith("swarmscope."):
            continue
        other = name.split(".")[1]
        if other not in LAYERS or other == me:
            continue
        if LAYERS[other] > LAYERS[me]:
            problems.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {name} (layer {LAYERS[other]})")
        elif LAYERS[other] == LAYERS[me] and LAYERS[me] > 0:
            problems.append(f"line {line}: siblings {me} and {other} must not import each other")
    return problems


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    problems = layer_problems(path)
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_resource_ownership(path: Path) -> None:
    me = top_of(path)
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for name, line in imported_names(tree, path):
        for owned, owners in OWNED_IMPORTS.items():
            if _matches(name, owned) and me not in owners:
                problems.append(f"line {line}: {name} is owned by {sorted(owners)}")
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


def _pure_paths() -> list[Path]:
    out = [p for p in modules() if top_of(p) in PURE_PACKAGES]
    out += [SRC / m for m in PURE_MODULES if (SRC / m).exists()]
    return out


def purity_problems(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for name, line in imported_names(tree, path, root):
        if any(_matches(name, bad) for bad in IMPURE_IMPORTS):
            problems.append(f"line {line}: imports {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in CLOCK_OR_RANDOM_CALLS:
                problems.append(f"line {node.lineno}: calls {owner_name}.{node.func.attr}()")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"open", "print"}
        ):
            problems.append(f"line {node.lineno}: calls {node.func.id}()")
    return problems


@pytest.mark.parametrize("path", _pure_paths(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_do_no_io(path: Path) -> None:
    problems = purity_problems(path)
    assert not problems, f"{path.relative_to(SRC)} must be pure:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_environment_at_import_time(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
                problems.append(f"line {node.lineno}: reads os.{node.attr} at import time")
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself works: a wire module importing asyncio, net and the clock is flagged."""
    root = tmp_path / "swarmscope"
    (root / "wire").mkdir(parents=True)
    bad = root / "wire" / "bad.py"
    bad.write_text("import asyncio\nfrom swarmscope.net import clock\nimport time\nx = time.time()\n")
    layers = layer_problems(bad, root)
    assert layers == [
        "line 2: wire (layer 1) imports swarmscope.net (layer 3)",
        "line 2: wire (layer 1) imports swarmscope.net.clock (layer 3)",
    ]
    pure = purity_problems(bad, root)
    assert "line 1: imports asyncio" in pure and "line 4: calls time.time()" in pure
