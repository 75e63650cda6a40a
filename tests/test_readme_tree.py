"""The README's Design tree names every package, room and top-level module of src/swarmscope (the full
map is docs/architecture.md; the README's short tree must not go stale when a package or room is added)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.architecture_rules import SRC
from tests.room_rules import ROOMS

README = SRC.parents[1] / "README.md"
ENTRY = re.compile(r"^((?:  )+)([\w.]+/|[\w.]+\.py)\s")


def readme_tree(text: str) -> set[str]:
    """Paths of the entries of the README's tree (``store/ledger/``, ``errors.py``)."""
    block = text.split("## Design", 1)[1].split("```")[1]
    stack: list[str] = []
    out = set()
    for line in block.splitlines():
        match = ENTRY.match(line)
        if match:
            stack = stack[: len(match.group(1)) // 2 - 1]
            out.add("/".join([*stack, match.group(2)]))
            if match.group(2).endswith("/"):
                stack.append(match.group(2).rstrip("/"))
    return out


def missing_from_readme(text: str, root: Path = SRC) -> list[str]:
    """Packages, rooms (:data:`ROOMS`) and top-level modules with no entry in the README's tree."""
    wanted = [f"{p.name}/" for p in sorted(root.iterdir()) if (p / "__init__.py").is_file()]
    wanted += [p.name for p in sorted(root.glob("*.py")) if not p.name.startswith("__")]
    wanted += [f"{package}/{room}/" for package, rooms in ROOMS.items() for room in rooms]
    entries = readme_tree(text)
    return [name for name in wanted if name not in entries]


def test_the_readme_tree_names_every_package_and_room() -> None:
    missing = missing_from_readme(README.read_text())
    assert not missing, "README.md's Design tree does not name:\n" + "\n".join(missing)


def test_a_package_or_room_missing_from_the_readme_tree_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "swarmscope"
    for rel in ("__init__.py", "errors.py", "netns.py", "web/__init__.py", "store/__init__.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    text = "## Design\n\n```\nsrc/swarmscope/\n  errors.py   e\n  store/      s\n    ledger/   l\n```\n"
    rooms = [f"store/{room}/" for room in ROOMS["store"] if room != "ledger"]
    assert missing_from_readme(text, root) == [
        "web/",
        "netns.py",
        *[f"evidence/{r}/" for r in ROOMS["evidence"]],
        *rooms,
    ]
