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
    "policy_options", "document_gate", "fleet_duties", "verify_ledger",
}  # fmt: skip
APP_ATTRIBUTES = {"command", "callback", "add_typer"}  # what a command module may do with the shared app
# Typer's registry and the click group behind it: a command that reads them reaches every other command
# without importing one (``app.registered_commands[0].callback()``, ``ctx.find_root().command.commands``).
REGISTRY_ATTRIBUTES = {
    "registered_commands", "registered_groups", "registered_callback", "commands", "get_command",
    "list_commands", "get_group",
    "find_root",  # click's root context: ``.command.main([...])`` runs any command by its name
    "resolve_command", "invoke", "forward",  # click: look a command up by name, run a command's callback
}  # fmt: skip
# On a click context (``click.get_current_context()``, a name bound to it, a parameter annotated
# ``typer.Context``/``click.Context``) these lead to the group and its other commands:
# ``ctx.parent.command.main(["letters", "send"])``.
CONTEXT_ATTRIBUTES = {"parent", "command"}
CONTEXT_MAKERS = {"click.get_current_context", "click.globals.get_current_context"}
CONTEXT_TYPES = {"typer.Context", "click.Context", "click.core.Context", "typer.models.Context"}
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
    return _by_line(problems + _registry_problems(mod) + _shared_registers(mod, own[-1]))


def _shared_registers(mod: Module, name: str) -> list[str]:
    """A shared module (other commands import it) that registers a command, a callback or a sub-app on
    any Typer app: importing it would hand its command to every command module. ``app`` itself makes the
    application and its one global callback."""
    if name not in SHARED_CLI or name == "app":
        return []
    return [
        f"line {node.lineno}: shared module cli.{name} registers a command ('.{node.attr}'): commands "
        "live in command modules, which no other command imports"
        for node in ast.walk(mod.tree)
        if isinstance(node, ast.Attribute) and node.attr in APP_ATTRIBUTES
    ]


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
        elif node.attr in CONTEXT_ATTRIBUTES and _on_context(mod, node.value, _contexts(mod)):
            problems.append(f"line {node.lineno}: .{node.attr} of a click context {tail}")
    return problems


def _contexts(mod: Module) -> set[str]:
    """Names bound to a click context: assigned from ``click.get_current_context()`` (or from a name
    bound before, ``p = ctx.parent``) or a parameter annotated with a Context type."""
    names = set()
    for node in ast.walk(mod.tree):
        annotation = node.annotation if isinstance(node, ast.arg) else None
        if isinstance(node, ast.Assign) and _on_context(mod, node.value, names):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif annotation is not None and CONTEXT_TYPES & {mod.qualify(annotation), _text(annotation)}:
            names.add(node.arg)  # type: ignore[attr-defined]
    return names


def _on_context(mod: Module, node: ast.expr, names: set[str]) -> bool:
    """Whether ``node`` is a click context or reached from one (``ctx.parent``, ``ctx.parent.parent``)."""
    while isinstance(node, ast.Attribute):
        node = node.value
    if isinstance(node, ast.Call):
        return mod.qualify(node.func) in CONTEXT_MAKERS
    return isinstance(node, ast.Name) and node.id in names


def _text(node: ast.expr) -> str | None:
    """A string annotation's text (``"typer.Context"`` under ``from __future__ import annotations``)."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
