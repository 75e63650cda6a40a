"""Rule 3 of the architecture (docs/architecture.md): only net/ talks to the network, only store/ to the
database, only attribution/ reads IP datasets. testbed/ may open sockets too: it runs foreign software
(trackers, an SMTP server, a TSA) to build test swarms.

Ownership goes by import: every network, SMTP, HTTP and event-loop library of :data:`NETWORK_LIBRARIES`
belongs to :data:`SOCKET_OWNERS`, so ``import requests`` or ``import anyio`` outside net/ fails whatever is
done with it. asyncio is everyone's (it runs the tasks), so its connection openers are recognised by name,
under any alias, and on any loop object.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture_rules import SRC, _by_line, _matches, imported_names, load

SOCKET_OWNERS = {"net", "testbed"}
NETWORK_LIBRARIES = {  # stdlib and third-party modules that open connections or listening sockets
    "socket", "ssl", "socketserver", "select", "selectors", "http.client", "http.server", "urllib.request",
    "xmlrpc", "smtplib", "ftplib", "poplib", "imaplib", "nntplib", "telnetlib", "requests", "urllib3",
    "httpx", "aiohttp", "anyio", "trio", "uvloop", "websockets", "aiosmtplib", "ntplib",
}  # fmt: skip
OWNED_IMPORTS = {  # module -> the only top-level packages allowed to import it
    **{library: SOCKET_OWNERS for library in NETWORK_LIBRARIES},
    "httpx": {"net"}, "ntplib": {"net"}, "aiosmtplib": {"net"}, "aiosmtpd": {"testbed"},
    "sqlalchemy": {"store"}, "alembic": {"store"}, "sqlite3": {"store"}, "psycopg": {"store"},
    "maxminddb": {"attribution"}, "geoip2": {"attribution"},
    "fastapi": {"web"}, "starlette": {"web"}, "uvicorn": {"web"}, "multipart": {"web"},
    "python_multipart": {"web"},
}  # fmt: skip
OWNED_EXCEPTIONS = {  # (module path under src/swarmscope, imported module) -> why it may
    ("cli/monitor_settings.py", "uvloop"): "--loop picks uvloop's event loop factory; it opens no socket",
}
CONNECTION_OPENERS = {  # asyncio / socket calls that open a connection or a listening socket
    "open_connection", "start_server", "create_connection", "create_datagram_endpoint", "create_server",
    "open_unix_connection", "start_unix_server", "create_unix_connection", "create_unix_server",
    "sock_connect", "sock_accept", "connect_accepted_socket",
}  # fmt: skip


def ownership_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    rel = path.relative_to(root).as_posix()
    problems = []
    for name, line in imported_names(mod):
        for owned, owners in OWNED_IMPORTS.items():
            if _matches(name, owned) and mod.top not in owners and (rel, owned) not in OWNED_EXCEPTIONS:
                problems.append(f"line {line}: {name} is owned by {sorted(owners)}")
    return _by_line(problems)


def connection_problems(path: Path, root: Path = SRC) -> list[str]:
    """Only net/ (and the testbed) opens connections or listening sockets, through any alias or loop."""
    mod = load(path, root)
    if mod.top in SOCKET_OWNERS:
        return []
    owners = sorted(SOCKET_OWNERS)
    named = [(line, name) for name, line in imported_names(mod)]
    named += [(node.lineno, name) for node, name, _ in mod.references()]
    problems = [f"line {n}: uses {name}; only {owners} open sockets" for n, name in named if _opener(name)]
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Attribute) and node.attr in CONNECTION_OPENERS and not mod.qualify(node):
            problems.append(f"line {node.lineno}: uses .{node.attr}; only {owners} open sockets")
    return _by_line(problems)


def _opener(name: str) -> bool:
    """An opener of asyncio or a network library (a net/ function that happens to share its name is not)."""
    parts = name.split(".")
    return parts[0] in {"asyncio", *NETWORK_LIBRARIES} and parts[-1] in CONNECTION_OPENERS
