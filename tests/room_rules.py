"""The room rule of the architecture (docs/architecture.md, "Rooms"), as functions over one module's source.

A package with many modules is split into rooms (sub-packages). Inside such a package the core (its
top-level modules) imports no room, and a room imports only the core and the rooms listed before it in
:data:`ROOMS`. Every sub-package must be listed, so a new room gets a place in the order when it is made.
The walk is the one of :mod:`tests.architecture_rules` (function-level and dynamic imports count).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_rules import SRC, load

ROOMS = {  # package -> its rooms, in import order: a room imports the core and the rooms before it
    "evidence": ("probe", "timestamp", "capture", "bundle"),
    "store": ("ledger", "legal", "access", "console", "fleet", "migrations"),
}
# Core modules that may import their package's rooms: store/database.py opens the store, which migrates it
# and runs the ledger's crash recovery (the rooms import it back only for the ``Store`` type and its
# engine). Every other core module is held to the order: one that imported a room could relay it.
CORE_ABOVE_ROOMS = {"swarmscope.store.database"}
# Rooms held to fewer rooms than the order allows (docs/architecture.md, "Rooms"): the fleet commits
# evidence through the ledger and knows no case, user or console read model; the console's read models
# read the ledger and the cases, never access control (web/ scopes a client's rows by handing them in).
ROOM_ONLY = {"store.fleet": {"ledger"}, "store.console": {"ledger", "legal"}}
# Packages whose modules import nothing of the project: Alembic revisions are frozen snapshots (a
# revision that imported the live schema would change what an old upgrade creates).
FROZEN = {"store.migrations.versions"}


def _room(parts: list[str]) -> str | None:
    """The room of a dotted name below ``swarmscope`` (``["evidence", "capture", "decode"]`` -> capture),
    None for the package's core (``["evidence", "records"]``) or the package itself."""
    if len(parts) >= 2 and parts[1] in ROOMS.get(parts[0], ()):
        return parts[1]
    return None


def _against_order(package: str, mine: str | None, theirs: str | None, module: str) -> bool:
    if theirs is None or theirs == mine:
        return False
    if mine is None:
        return module not in CORE_ABOVE_ROOMS
    order = ROOMS[package]
    return order.index(theirs) > order.index(mine)


def room_violations(path: Path, root: Path = SRC) -> list[tuple[int, str, str]]:
    """(line, importing module, imported name) of every import against the room order."""
    mod = load(path, root)
    parts = mod.name.split(".")[1:]
    package = parts[0] if parts else ""
    if package not in ROOMS:
        return []
    me = ".".join(parts)
    out = []
    for ref in mod.refs:
        found: dict[str, str] = {}  # room -> the longest name of this import that lands in it
        for name in [ref.module, *(f"{ref.module}.{n}" for n in ref.names)]:
            other = name.split(".")[1:]
            if name.startswith("swarmscope.") and other[0] == package:
                room = _room(other)
                if _against_order(package, _room(parts), room, mod.name) and len(name) > len(
                    found.get(room or "", "")
                ):
                    found[room or ""] = name
        out += [(ref.line, me, name) for name in found.values()]
    return sorted(out)


def room_problems(path: Path, root: Path = SRC) -> list[str]:
    """Imports against the room order, and sub-packages with no place."""
    mod = load(path, root)
    parts = mod.name.split(".")[1:]
    problems = []
    if parts and len(path.relative_to(root).parts) > 2 and _room(parts) is None:
        problems.append(f"sub-package {'.'.join(parts[:2])} has no place in ROOMS")
    for line, me, name in room_violations(path, root):
        problems.append(f"line {line}: {me} imports {name}, against the room order {ROOMS[parts[0]]}")
    return problems + _restricted(path, root)


def _restricted(path: Path, root: Path) -> list[str]:
    """Imports of a room off its :data:`ROOM_ONLY` list, and any project import of a :data:`FROZEN`
    package's module."""
    mod = load(path, root)
    parts = mod.name.split(".")[1:]
    me = ".".join(parts)
    frozen = any(me.startswith(f + ".") for f in FROZEN)
    allowed = ROOM_ONLY.get(".".join(parts[:2]))
    problems = []
    for ref in mod.refs:
        for name in [ref.module, *(f"{ref.module}.{n}" for n in ref.names)]:
            other = name.split(".")[1:]
            if not name.startswith("swarmscope"):
                continue
            if frozen:
                problems.append(f"line {ref.line}: {me} imports {name}; a frozen revision imports nothing")
                break
            room = _room(other) if other and other[0] == parts[0] else None
            if allowed is not None and room not in (None, parts[1], *allowed):
                problems.append(
                    f"line {ref.line}: {me} imports {name}; {'.'.join(parts[:2])} imports "
                    f"only {sorted(allowed)}"
                )
                break
    return problems
