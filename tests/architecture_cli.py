"""Rule 5 of the architecture (docs/architecture.md, "Commands"): a cli/ module imports no other cli/
module but the shared ones (:data:`SHARED_CLI`). A command is parsing, printing and exit codes; what two
commands both need is a workflow action in cases/ (which a web console calls too) or a shared cli helper.
:data:`CLI_COMPOSERS` are the modules made to import commands.

Every way of reaching a module counts: an import statement, ``from swarmscope import cli`` (the package's
``__init__``, which registers every command), an attribute chain (``swarmscope.cli.letters`` after
``import swarmscope``) and a literal ``pkgutil.resolve_name``/``import_module`` (see
:class:`tests.architecture_rules.Module`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture_rules import SRC, ImportRef, Module, _by_line, load

SHARED_CLI = {  # cli/ modules every command may import: they register no command
    "app", "options", "numeric", "text", "evidence_trust", "node_identity", "evidence_options",
    "provenance", "monitor_view", "commit_log", "refused_run", "monitor_options", "monitor_settings",
    "policy_options", "document_gate", "fleet_duties",
}  # fmt: skip
APP_ATTRIBUTES = {"command", "callback", "add_typer"}  # what a command module may do with the shared app
# Typer's registry and the click group behind it: a command that reads them reaches every other command
# without importing one (``app.registered_commands[0].callback()``, ``ctx.find_root().command.commands``).
REGISTRY_ATTRIBUTES = {
    "registered_commands", "registered_groups", "registered_callback", "commands", "get_command",
    "list_commands", "get_group",
    "find_root",  # click's root context: ``.command.main([...])`` runs any command by its name
}  # fmt: skip
CLI_COMPOSERS = {  # cli/ modules whose job is to import commands
    "__init__",  # registers every command on the app
    "__main__",  # ``python -m swarmscope.cli``: the package's entry point
    "demo",  # runs monitor, report, export and verify end to end on a loopback swarm
}


def _cli_targets(ref: ImportRef, root: Path) -> list[str]:
    """The cli/ modules an import reaches (``__init__`` for the package itself or a name defined in it)."""
    parts = ref.module.split(".")
    if parts == ["swarmscope"] and "cli" in ref.names:  # ``from swarmscope import cli``
        return ["__init__"]
    if parts[:2] != ["swarmscope", "cli"]:
        return []
    if len(parts) > 2:
        return [parts[2]]
    subs = [name for name in ref.names if (root / "cli" / f"{name}.py").exists()]
    return subs + (["__init__"] if len(subs) < len(ref.names) or not ref.names else [])


def cli_import_problems(path: Path, root: Path = SRC) -> list[str]:
    """A cli/ module importing a cli/ module that is neither shared nor itself (rule 5)."""
    mod = load(path, root)
    own = path.relative_to(root).with_suffix("").parts
    if mod.top != "cli" or own[-1] in CLI_COMPOSERS:
        return []
    problems = []
    for ref in mod.refs:
        for target in _cli_targets(ref, root):
            if target not in SHARED_CLI and target != own[-1]:
                problems.append(
                    f"line {ref.line}: imports command module cli.{target}; move what both commands need "
                    "into cases/ (a workflow action) or a shared cli module"
                )
    return _by_line(problems + _registry_problems(mod))


def _registry_problems(mod: Module) -> list[str]:
    """Reaching commands through the app: the shared app used as a value or called
    (``app(["letters", "send", ...])``), an attribute of it off :data:`APP_ATTRIBUTES`, or a registry
    attribute on any value."""
    tail = "reaches the command registry; call a workflow action in cases/ instead"
    problems = [  # the app itself (called, or handed on to be called) runs any command by its arguments
        f"line {node.lineno}: uses the shared app itself, which runs any command; "
        "call a workflow action in cases/ instead"
        for node, name, _ in mod.references()
        if name == "swarmscope.cli.app.app"
    ]
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Attribute):
            continue
        owner = mod.qualify(node.value)
        if owner == "swarmscope.cli.app.app" and node.attr not in APP_ATTRIBUTES:
            problems.append(f"line {node.lineno}: app.{node.attr} {tail}")
        elif node.attr in REGISTRY_ATTRIBUTES:
            shown = f"{owner}.{node.attr}" if owner else f".{node.attr}"
            problems.append(f"line {node.lineno}: {shown} {tail}")
    return problems
