"""Package resource and template loaders that import a package named by a literal string.

``importlib.resources.files("swarmscope.web")``, ``jinja2.PackageLoader("swarmscope.web", "templates")``
and ``pkgutil.get_data("swarmscope.cli", "x")`` import the named package (its ``__init__`` runs), so a
literal project package given to one counts as an import of it for every rule that reads imports (layers,
rooms, commands, cycles), as a literal ``import_module`` does (:class:`tests.architecture_rules.Module`).
"""

from __future__ import annotations

import ast

PACKAGE_LOADERS = {  # the called name's last part -> the argument that names the package
    "files": 0, "read_text": 0, "read_binary": 0, "open_text": 0, "open_binary": 0, "contents": 0,
    "is_resource": 0, "path": 0, "as_file": None, "PackageLoader": 0, "get_data": 0,
}  # fmt: skip


def loader_target(node: ast.Call, tail: str | None) -> str | None:
    """The project package a loader call names by a literal (``swarmscope`` or ``swarmscope.x...``)."""
    index = PACKAGE_LOADERS.get(tail or "")
    if index is None or len(node.args) <= index:
        return None
    arg = node.args[index]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        name = arg.value
        if name == "swarmscope" or name.startswith("swarmscope."):
            return name
    return None
