"""Where the running code comes from: its version and, in a git checkout, its commit.

Sealed with every monitor run (``RunStarted.software_commit``) so an export's methodology statement names
the exact code that produced the evidence (README "Export and verify"). Reads files only; never runs git.
"""

from __future__ import annotations

from pathlib import Path

import swarmscope


def _git_dir(start: Path) -> Path | None:
    """The ``.git`` directory of the checkout holding ``start``, if any (a worktree's ``.git`` file too)."""
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():
            text = candidate.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                return (folder / text.removeprefix("gitdir:").strip()).resolve()
    return None


def software_commit() -> str | None:
    """The 40-hex commit of the checkout the package runs from, or None (installed from a wheel, unreadable).

    Resolves ``HEAD`` through a loose ref or ``packed-refs``; a dirty tree is not detected.
    """
    git = _git_dir(Path(swarmscope.__file__).resolve().parent)
    if git is None:
        return None
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if len(head) == 40 else None
        ref = head.removeprefix("ref:").strip()
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.is_file() else git
        for root in (git, base):
            loose = root / ref
            if loose.is_file():
                return loose.read_text().strip()
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                commit, _, name = line.partition(" ")
                if name == ref:
                    return commit
    except OSError:
        return None
    return None
