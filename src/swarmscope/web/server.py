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
from swarmscope.net.bind import listen_socket
from swarmscope.web.app import create_app
from swarmscope.web.settings import WebSettings


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a ``--host`` that is not loopback (``localhost``, 127.0.0.0/8, ::1) without ``allow_remote``.

    Raises:
        InputError: a host name other than ``localhost``; a non-loopback address without ``allow_remote``.
    """
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise InputError(f"--host {host}: give an IP address (or localhost)") from None
    if not loopback and not allow_remote:
        raise InputError(
            f"--host {host}: not a loopback address; the console speaks plain HTTP and shows personal data. "
            "Put it behind a TLS proxy and pass --allow-remote"
        )


def serve(settings: WebSettings, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM stop uvicorn cleanly).

    Opens the store, then takes the listening socket itself (:func:`swarmscope.net.bind.listen_socket`:
    net/ owns sockets) and hands it to uvicorn, so a port another program holds is one clear error
    instead of uvicorn's log line and exit status 3; then calls ``announce`` with the console's URL.

    Raises:
        StoreError, IdentityError: from :func:`create_app`, before anything listens.
        InputError: the address or port cannot be bound (taken, not ours, privileged).
    """
    app = create_app(settings)
    host = "127.0.0.1" if settings.host == "localhost" else settings.host
    try:
        sock = listen_socket(host, settings.port)
    except OSError as exc:
        app.state.store.close()
        raise InputError(f"--port {settings.port} on {host}: cannot listen: {exc.strerror or exc}") from None
    config = uvicorn.Config(
        app, log_level="warning", server_header=False, proxy_headers=False, access_log=False
    )
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{settings.port}/")
    uvicorn.Server(config).run(sockets=[sock])
