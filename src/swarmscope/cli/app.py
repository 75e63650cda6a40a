"""The Typer application object; each ``cli/<command>.py`` module registers its commands on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="swarmscope",
    help="Watch BitTorrent swarms and record verified evidence of distribution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Watch BitTorrent swarms and record verified evidence of distribution."""
