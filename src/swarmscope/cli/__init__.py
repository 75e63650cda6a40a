"""Command-line entry point (composition root): builds settings, store and clock and passes them down."""

from __future__ import annotations

import importlib

from swarmscope.cli.app import app

_COMMAND_MODULES = (
    "inspect",
    "monitor",
    "report",
    "demo",
    "export",
    "verify",
    "timestamp",
    "subscribers",
    "purge",
    "datasets",
    "exhibits",
    "notices",
    "letters",
    "payments",
    "disputes",
    "escalations",
    "works",
    "isps",
    "cases",
)


def register_commands() -> None:
    """Import every command module so each registers itself on the Typer app."""
    for name in _COMMAND_MODULES:
        importlib.import_module(f"swarmscope.cli.{name}")


def main() -> None:
    """Console-script entry point (``swarmscope``)."""
    register_commands()
    app()
