"""Run the console with uvicorn (``swarmscope serve``).

Listening on anything but loopback is refused unless asked for (``allow_remote``): uvicorn here speaks
plain HTTP, and the console carries passwords, session cookies and subscriber identities. Served to other
hosts it must sit behind a TLS-terminating reverse proxy, and its cookies are then marked ``Secure``.
"""

from __future__ import annotations

import ipaddress
import signal
import threading
from collections.abc import Callable

import uvicorn

from swarmscope.errors import InputError
from swarmscope.net.bind import Listener, listen_socket
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


def console_socket(host: str, port: int) -> Listener:
    """The console's listening socket on ``(host, port)`` (:func:`swarmscope.net.bind.listen_socket`:
    net/ owns sockets). A socket stays in the network namespace it was made in, whatever the process
    does afterwards (``demo --serve`` takes it before the demo enters its private namespace).

    Raises:
        InputError: the address or port cannot be bound (taken, not ours, privileged).
    """
    try:
        return listen_socket(host, port)
    except OSError as exc:
        raise InputError(f"--port {port} on {host}: cannot listen: {exc.strerror or exc}") from None


def serve(
    settings: WebSettings, announce: Callable[[str], None] = print, sock: Listener | None = None
) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM stop uvicorn cleanly).

    Opens the store, then takes the listening socket itself with :func:`console_socket` unless ``sock``
    (made by :func:`console_socket` for ``settings``' host and port) is given, so a port another program
    holds is one clear error instead of uvicorn's log line and exit status 3; then calls ``announce`` with
    the console's URL. ``sock`` is closed when serving ends or fails.

    Raises:
        StoreError, IdentityError: from :func:`create_app`, before anything listens.
        InputError: the address or port cannot be bound (taken, not ours, privileged).
    """
    host = "127.0.0.1" if settings.host == "localhost" else settings.host
    try:
        app = create_app(settings)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    try:
        sock = sock or console_socket(host, settings.port)
    except InputError:
        app.state.store.close()
        raise
    config = uvicorn.Config(
        app, log_level="warning", server_header=False, proxy_headers=False, access_log=False
    )
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{settings.port}/")
    with sock:
        _run(uvicorn.Server(config), sock)


class _Stopped(Exception):
    """Ctrl-C or SIGTERM, raised again by uvicorn once it has shut down gracefully."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def _run(server: uvicorn.Server, sock: Listener) -> None:
    """Run ``server`` on ``sock``; after Ctrl-C or SIGTERM and uvicorn's graceful shutdown, return.

    uvicorn catches both signals, shuts down, restores the previous handlers and then raises the signal
    again (``uvicorn.Server.capture_signals``) so a default handler ends the process: status 143 for
    SIGTERM, click's "Aborted!" and status 1 for Ctrl-C, and the caller never says the console stopped.
    Our own handlers stand behind uvicorn's for the run, turning that second raise into a return.
    Signal handlers belong to the main thread; elsewhere uvicorn installs none and this adds none.
    """
    if threading.current_thread() is not threading.main_thread():
        server.run(sockets=[sock])
        return
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
