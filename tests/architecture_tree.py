"""A crafted ``swarmscope`` package tree for the architecture dodge tests (test_architecture_dodges*)."""

from __future__ import annotations

from pathlib import Path


def crafted_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path relative to the package → source) under ``tmp_path/swarmscope``, with an
    ``__init__.py`` in the package and every folder on the way; returns the package root."""
    root = tmp_path / "swarmscope"
    for rel, source in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(source)
    return root
