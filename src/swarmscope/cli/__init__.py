"""Command-line entry point (composition root): builds settings, store and clock and passes them down."""

from __future__ import annotations

from swarmscope.cli.app import app


def register_commands() -> None:
    """Import every command module so each registers itself on the Typer app (``--help`` keeps this order).

    Imported by name, not by a computed string, so the architecture test sees every command module.
    """
    # isort: off
    from swarmscope.cli import inspect, monitor, report, demo, export, verify, timestamp  # noqa: F401
    from swarmscope.cli import subscribers, purge, datasets, exhibits, notices, letters  # noqa: F401
    from swarmscope.cli import payments, disputes, escalations, works, isps, cases, research  # noqa: F401
    from swarmscope.cli import serve, users, fleet, node, witness  # noqa: F401
    # isort: on


def main() -> None:
    """Console-script entry point (``swarmscope``)."""
    register_commands()
    app()
