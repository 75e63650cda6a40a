"""Import cycles between the modules of the package, found on the graph of every import in every module.

A function-level import, an import under ``if TYPE_CHECKING:`` and a dynamic import with a literal name
are edges like any top-level import: each exists because one module needs the other, and hiding it in a
function or behind TYPE_CHECKING only dodges the cycle at run time. ``from p import m`` is an edge to the
module ``p.m`` when ``m`` is a module, else to ``p`` (its ``__init__``).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_rules import SRC, ImportRef, load, modules


def _targets(ref: ImportRef, known: set[str]) -> set[str]:
    """The modules of the package an import loads: ``from p import m`` loads p.m when m is a module."""
    wanted = [f"{ref.module}.{name}" for name in ref.names] or [ref.module]
    out = set()
    for name in wanted:
        parts = name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(len(parts), 0, -1))
        found = next((p for p in prefixes if p in known), None)
        if found:
            out.add(found)
    return out


def import_graph(root: Path = SRC) -> dict[str, dict[str, int]]:
    """Module -> {module of the package it imports: first line}, function-level imports included."""
    mods = [load(p, root) for p in modules(root)]
    known = {m.name for m in mods}
    graph: dict[str, dict[str, int]] = {}
    for mod in mods:
        edges: dict[str, int] = {}
        for ref in sorted(mod.refs, key=lambda r: r.line):
            for target in _targets(ref, known) - {mod.name}:
                edges.setdefault(target, ref.line)
        graph[mod.name] = edges
    return graph


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def cycle_problems(root: Path = SRC) -> list[str]:
    """One line per import cycle: its modules and the import (with line) of each edge inside it."""
    graph = import_graph(root)
    problems = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        members = set(component)
        edges = [
            f"{_short(a)} line {line} imports {_short(b)}"
            for a in component
            for b, line in sorted(graph[a].items())
            if b in members
        ]
        problems.append(f"import cycle among {', '.join(map(_short, component))}: " + "; ".join(edges))
    return sorted(problems)


def _short(name: str) -> str:
    return name.removeprefix("swarmscope.")
