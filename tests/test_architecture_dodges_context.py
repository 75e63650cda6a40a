"""A command reaching another through click's context, against crafted dodges (docs/architecture.md,
rule "Commands"): ``ctx.parent.command.main([...])``, ``.resolve_command(ctx, [...])`` and
``ctx.invoke``/``ctx.forward`` run another command by its name, like ``ctx.find_root()`` (refused before).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_cli import cli_import_problems
from tests.architecture_tree import crafted_tree as _tree

TAIL = "reaches the command registry; call a workflow action in cases/ instead"


def test_click_context_chains_to_other_commands_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cli/disputes.py": (
        "import click\nimport typer\nfrom pathlib import Path\n"
        "def dispute(case_id: int) -> None:\n    ctx = click.get_current_context()\n"
        "    ctx.parent.command.main(['letters', 'send', str(case_id)], standalone_mode=False)\n"
        "    _, cmd, _ = ctx.parent.command.resolve_command(ctx, ['letters', 'send'])\n"
        "    ctx.invoke(cmd.callback, case_id=case_id)\n"
        "def other(ctx: typer.Context, p: Path) -> None:\n    up = ctx.parent\n    ctx.forward(up)\n"
        "    return click.get_current_context().command, p.parent\n"
    )})  # fmt: skip
    assert cli_import_problems(root / "cli/disputes.py", root) == [
        f"line 6: .command of a click context {TAIL}",
        f"line 6: .parent of a click context {TAIL}",
        f"line 7: .resolve_command {TAIL}",
        f"line 7: .command of a click context {TAIL}",
        f"line 7: .parent of a click context {TAIL}",
        f"line 8: .invoke {TAIL}",
        f"line 10: .parent of a click context {TAIL}",
        f"line 11: .forward {TAIL}",
        f"line 12: .command of a click context {TAIL}",
    ]  # a Path's .parent is ordinary


def test_a_shared_module_registers_no_command(tmp_path: Path) -> None:
    """A command dropped into a shared module (which every command may import) would hand it to any
    other command: ``from swarmscope.cli.options import send`` in cli/disputes.py."""
    root = _tree(tmp_path, {
        "cli/app.py": "import typer\napp = typer.Typer()\n@app.callback()\ndef main() -> None:\n    pass\n",
        "cli/options.py": "from swarmscope.cli.app import app\n@app.command('send')\ndef send() -> None:\n"
                          "    pass\n",
        "cli/disputes.py": "from swarmscope.cli.options import send\ndef dispute() -> None:\n    send()\n",
    })  # fmt: skip
    assert cli_import_problems(root / "cli/app.py", root) == []
    assert cli_import_problems(root / "cli/options.py", root) == [
        "line 2: shared module cli.options registers a command ('.command'): commands live in command "
        "modules, which no other command imports"
    ]
