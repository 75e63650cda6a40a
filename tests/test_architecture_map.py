"""The map in docs/architecture.md ("The tree") names every module of src/swarmscope, so a newcomer finds
each one from the tree.

The tree is read as entries: a line starting (after two spaces a level, within the first 10 columns) with
``name.py`` or ``name/``, followed by its description and continuation lines (indented further). A module
``pkg/room/mod.py`` is on the map when the entry of ``room/`` under ``pkg/`` names ``mod`` as a word; a
top-level module when it has an entry of its own. ``__init__.py`` files are the packages themselves.
Files in a directory that is not a package (Alembic's ``versions/``) are data, listed by their directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.architecture_rules import SRC, modules

DOC = SRC.parents[1] / "docs" / "architecture.md"
ENTRY = re.compile(r"^((?:  )+)([\w.]+/|[\w.]+\.py)(?:\s+(.*))?$")
CONTINUATION = 10  # a line indented this far continues the entry above


def tree_entries(text: str) -> dict[str, str]:
    """Path of each entry of the tree (``evidence/probe/``, ``errors.py``) -> its text."""
    block = text.split("## The tree", 1)[1].split("```")[1]
    entries: dict[str, str] = {}
    stack: list[str] = []  # the directories the current entry is in
    current = None
    for line in block.splitlines():
        match = ENTRY.match(line) if not line.startswith(" " * CONTINUATION) else None
        if match:
            stack = stack[: len(match.group(1)) // 2 - 1]
            current = "/".join([*stack, match.group(2)])
            entries[current] = match.group(3) or ""
            if match.group(2).endswith("/"):
                stack.append(match.group(2).rstrip("/"))
        elif current and line.startswith(" " * CONTINUATION):
            entries[current] += " " + line.strip()
        else:  # a line of its own (``tests/`` beside the package): continues no entry
            current = None
    return entries


def listed(entry: str) -> set[str]:
    """The names an entry lists: the items between commas, semicolons, parentheses and ``+``, each after
    a ``label:``, that are one identifier (``run (ProbeRun), policy`` lists run, ProbeRun and policy;
    prose such as ``the console's read models`` lists nothing, so a module's name used as an English word
    in a description does not put it on the map)."""
    return {item.strip() for item in re.split(r"[,;:()+]", entry)} & set(re.findall(r"[\w.]+", entry))


def missing_from_map(text: str, root: Path = SRC) -> list[str]:
    """Modules of ``root`` the map does not name, and entries of the map that are no module."""
    entries = tree_entries(text)
    missing = [
        f"{entry} (an entry that names no module)"
        for entry in entries
        if not (root / entry).exists() and not (root / entry).with_suffix(".py").exists()
    ]
    for path in modules(root):
        rel = path.relative_to(root)
        if rel.name == "__init__.py" or not (path.parent / "__init__.py").is_file():
            continue
        if len(rel.parts) == 1:
            found = rel.name in entries
        else:
            found = rel.stem in listed(entries.get("/".join(rel.parts[:-1]) + "/", ""))
        if not found:
            missing.append(rel.as_posix())
    return missing


def test_every_module_is_on_the_map() -> None:
    missing = missing_from_map(DOC.read_text())
    assert not missing, "docs/architecture.md's tree does not name:\n" + "\n".join(missing)


def test_a_module_missing_from_the_map_is_caught(tmp_path: Path) -> None:
    """A module of a room the room's entry does not name, and a top-level module with no entry; a word
    in another entry does not count, the files of a directory that is no package are data."""
    root = tmp_path / "swarmscope"
    for rel in ("__init__.py", "evidence/__init__.py", "evidence/records.py", "evidence/probe/__init__.py",
                "evidence/probe/run.py", "evidence/probe/policy.py", "errors.py", "netns.py",
                "store/__init__.py", "store/migrations/versions/0001_initial.py"):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    text = (
        "## The tree\n\n```\nsrc/swarmscope/\n  errors.py          the errors\n"
        "  evidence/          core: records; policy is in probe\n"
        "    probe/           run (ProbeRun),\n                     and more\n  store/\n```\n"
    )
    assert missing_from_map(text, root) == ["evidence/probe/policy.py", "netns.py"]
    assert "more" in tree_entries(text)["evidence/probe/"]


def test_a_module_named_only_as_a_word_of_prose_is_not_on_the_map(tmp_path: Path) -> None:
    """``gate`` and ``history`` in a description's prose are not list items; an entry for a file or room
    that does not exist is reported too."""
    root = tmp_path / "swarmscope"
    for rel in ("__init__.py", "cases/__init__.py", "cases/workflow.py", "cases/gate.py", "cases/history.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    text = (
        "## The tree\n\n```\nsrc/swarmscope/\n  cases/             workflow (the gate of every\n"
        "                     move, keeps a history)\n  gone.py            removed\n"
        "tests/             history of the gate\n```\n"
    )
    assert missing_from_map(text, root) == [
        "gone.py (an entry that names no module)",
        "cases/gate.py",
        "cases/history.py",
    ]
