"""``swarmscope serve``: the web console (FastAPI + Jinja2 + htmx under uvicorn) over a store.

The console reads the store the monitor writes (SQLite by default, any SQLAlchemy URL such as
``postgresql+psycopg://...``); it never talks to peers. It listens on loopback unless ``--allow-remote``
(see :mod:`swarmscope.web.server`). ``--identity-key`` lets counsel and admin see subscriber identities
(each view audited); without it the pages say identities are not available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.numeric import number_option
from swarmscope.cli.options import DbOption, fail
from swarmscope.errors import SwarmscopeError
from swarmscope.store.database import DEFAULT_DB
from swarmscope.web.server import check_host, serve
from swarmscope.web.settings import WebSettings


@app.command("serve")
def serve_command(
    db: DbOption = DEFAULT_DB,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, number_option("--port", num.PORT, "TCP port to listen on")] = 8080,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a non-loopback --host (only behind a TLS proxy)."),
    ] = False,
    identity_key: Annotated[
        Path | None,
        typer.Option("--identity-key", help="Identity key file: counsel and admin then see identities."),
    ] = None,
) -> None:
    """Serve the web console until Ctrl-C."""
    settings = WebSettings(db, host, port, allow_remote, identity_key)
    try:
        check_host(host, allow_remote)
        serve(settings, lambda url: typer.echo(f"swarmscope console on {url} (Ctrl-C stops it)", err=True))
    except SwarmscopeError as exc:
        raise fail(exc) from None
