"""Run the console with uvicorn (``swarmscope serve``).

Listening on anything but loopback is refused unless asked for (``allow_remote``): uvicorn here speaks
plain HTTP, and the console carries passwords, session cookies and subscriber identities. Served to other
hosts it must sit behind a TLS-terminating reverse proxy, and its cookies are then marked ``Secure``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import uvicorn

from swarmscope.errors import InputError
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a ``--host`` that is not loopback (``localhost``, 127.0.0.0/8, ::1) without ``allow_remote``.

    Raises:
        InputError: a non-loopback address or a host name other than ``localhost``.
    """
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InputError(
            f"--host {host}: not a loopback address; the console speaks plain HTTP and shows personal data. "
            "Put it behind a TLS proxy and pass --allow-remote"
        )


def serve(settings: WebSettings, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM stop uvicorn cleanly). Opens the store first, then
    calls ``announce`` with the console's URL.

    Raises:
        StoreError, IdentityError: from :func:`create_app`, before anything listens.
    """
    app = create_app(settings)
    announce(f"http://{settings.host}:{settings.port}/")
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="warning", server_header=False,
        proxy_headers=False, access_log=False,
    )  # fmt: skip
