"""Rule 5 of the architecture (docs/architecture.md, "Ownership"): what each package may import from
outside the project, as an ALLOW-list. Only net/ talks to the network (testbed/ too: it runs foreign software
to build test swarms), only store/ to the database, only attribution/ reads IP datasets; every other package
imports :data:`SHARED_IMPORTS` only, so a library nobody thought to forbid (libtorrent, asyncpg,
``multiprocessing.connection``, ``logging.handlers``' SMTP/socket/HTTP handlers, ``subprocess`` running curl)
fails by default.

A name is judged by the module it really lives in (:func:`tests.architecture_names.real_module`):
``logging`` admits ``logging.getLogger`` but not ``logging.handlers``; ``uuid.os`` is ``os``. An entry
``"pkg.*"`` admits the package and all its submodules, a plain entry the one module. asyncio is everyone's (it
runs the tasks), so its connection openers are recognised by name, under any alias and on any loop object
(:func:`connection_problems`), and starting a process (``os.system``, ``asyncio.create_subprocess_exec``)
is refused by name outside :data:`PROCESS_OWNERS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.architecture_launchers import launcher_problems
from tests.architecture_names import real_module, real_name
from tests.architecture_rules import SRC, Module, _by_line, _is_getattr, _matches, imported_names, load
from tests.architecture_store_reach import store_reach_problems

SOCKET_OWNERS = {"net", "testbed"}
SHARED_IMPORTS = {  # the standard library and libraries that open no socket, start no process, reach no DB
    "__future__", "abc", "argparse", "asyncio", "base64", "binascii", "bisect", "calendar", "collections.*",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "email.*", "enum", "errno",
    "fractions", "functools", "gzip", "hashlib", "heapq", "hmac", "importlib", "importlib.resources.*",
    "inspect", "io", "ipaddress", "itertools", "json.*", "logging", "math", "mimetypes", "numbers",
    "operator", "os", "posixpath", "pathlib", "pprint", "random", "re", "secrets", "shlex", "shutil",
    "signal", "stat", "statistics", "string", "struct", "sys", "tarfile", "tempfile", "textwrap", "time",
    "tomllib", "traceback", "types", "typing", "typing_extensions", "unicodedata", "urllib.parse", "uuid",
    "warnings", "weakref", "zipfile", "zlib", "zoneinfo",
    "asn1crypto.*", "bencode2.*", "cryptography.*",
}  # fmt: skip
NETWORK_LIBRARIES = {  # what opens connections or listening sockets (and the event loops that do)
    "socket", "ssl", "select", "selectors", "http.*", "urllib.request", "smtplib", "httpx.*", "httpcore.*",
    "h11.*", "aiosmtplib.*", "ntplib", "uvloop.*",
}  # fmt: skip
PACKAGE_IMPORTS = {  # top-level package -> what it may import beyond SHARED_IMPORTS (one line a package)
    "net": NETWORK_LIBRARIES,
    "testbed": {*NETWORK_LIBRARIES, "subprocess", "threading", "aiosmtpd.*", "libtorrent", "mmdb_writer.*",
                "netaddr.*"},
    "store": {"sqlalchemy.*", "alembic.*", "sqlite3.*", "psycopg.*", "procrastinate.*", "psycopg_pool.*",
              "logging.config"},
    "attribution": {"maxminddb.*", "geoip2.*"},
    "netns": {"ctypes.*", "subprocess"},  # unshare(2) and `ip` for the private network namespace
    "cases": {"jinja2.*", "markupsafe.*", "lxml.*", "weasyprint.*"},  # templates, XML notices, PDF letters
    "cli": {"typer.*", "click.*", "rich.*", "getpass", "resource"},
    "web": {"fastapi.*", "starlette.*", "uvicorn.*", "multipart.*", "python_multipart.*", "jinja2.*",
            "markupsafe.*", "argon2.*", "prometheus_client.*", "pydantic.*",
            "confusable_homoglyphs.*",  # Unicode's confusables and scripts data (user names)
            "xml.sax.saxutils",  # the SVG plot's escape
            "threading"},  # a lock (matplotlib rc_context, one export at a time); the read models folder
    "research": {"matplotlib.*"},  # the export's plots (Agg backend: files only)
}  # fmt: skip
IMPORT_EXCEPTIONS = {  # (module path under src/swarmscope, imported module) -> why it may
    ("cli/monitor_settings.py", "uvloop"): "--loop picks uvloop's event loop factory; it opens no socket",
    ("cli/demo.py", "libtorrent"): "checks that libtorrent is installed before the demo starts testbed/",
    ("monitor/writer_process.py", "subprocess"): (
        "starts the node's evidence writer: this interpreter running swarmscope.monitor.writer_main (no "
        "other program), frames of bytes over its stdin/stdout"
    ),
    ("monitor/writer_process.py", "threading"): "a lock: one request at a time on the writer's pipe",
    ("monitor/writer_process.py", "gc"): "the monitor's processes collect cyclic garbage less often",
    ("monitor/child_main.py", "gc"): "a child of the monitor starts with the cyclic collector off",
    ("monitor/probe_processes.py", "subprocess"): (
        "starts a node's probe processes: this interpreter running swarmscope.monitor.probe_main (no other "
        "program), frames of bytes over their stdin/stdout"
    ),
    ("monitor/probe_processes.py", "threading"): "one thread per probe process relays its frames",
    ("monitor/probe_frames.py", "threading"): "a lock: frames from several threads on one pipe",
    ("monitor/probe_main.py", "threading"): "a reader thread: frames in while the event loop probes",
    ("monitor/probe_main.py", "uvloop"): "a probe process runs on uvloop's loop when its coordinator does",
}
DATABASE_OWNERS = {"store"}
DATABASE_MEMBERS = {"engine", "exec_driver_sql", "raw_connection"}  # a Store's engine, a connection's raw SQL
DATABASE_EXCEPTIONS: dict[tuple[str, str], str] = {}  # (module path, line text) -> why it may reach an engine
PROCESS_OWNERS = {"testbed", "netns"}
PROCESS_METHODS = {  # an event loop's process starters, refused by name on any owner outside PROCESS_OWNERS
    "subprocess_exec", "subprocess_shell", "create_subprocess_exec", "create_subprocess_shell",
}  # fmt: skip
PROCESS_RUNNERS = re.compile(  # names of shared modules that start a process
    r"os\.(system|popen|exec\w*|spawn\w*|posix_spawnp?|fork\w*)|asyncio\.(create_subprocess_\w+|subprocess)"
)
CONNECTION_OPENERS = {  # asyncio / socket calls that open a connection or a listening socket
    "open_connection", "start_server", "create_connection", "create_datagram_endpoint", "create_server",
    "open_unix_connection", "start_unix_server", "create_unix_connection", "create_unix_server",
    "sock_connect", "sock_accept", "connect_accepted_socket",
    "getaddrinfo", "getnameinfo",  # a loop's DNS lookups (forward and reverse)
}  # fmt: skip
NETWORK_CALLS = {  # (library, name): reach the network from a shared or owned library; refused outside net/
    **dict.fromkeys(  # web/ serves /metrics itself; pushing or a second server is net/'s
        ("push_to_gateway", "pushadd_to_gateway", "delete_from_gateway", "start_http_server",
         "start_wsgi_server"), "prometheus_client"),
    "listen": "logging",  # logging.config.listen: a socket server that takes a logging configuration
    "uuid1": "uuid", "getnode": "uuid",  # the MAC address: may run ip/ifconfig and read interfaces
}  # fmt: skip


def _admits(entries: set[str], module: str) -> bool:
    return any(_matches(module, e[:-2]) if e.endswith(".*") else module == e for e in entries)


def ownership_problems(path: Path, root: Path = SRC) -> list[str]:
    """Every library name the module imports or reaches, off its package's allow-list."""
    mod = load(path, root)
    rel = path.relative_to(root).as_posix()
    mine = SHARED_IMPORTS | PACKAGE_IMPORTS.get(mod.top, set())
    named = [(line, name) for name, line in imported_names(mod)]
    named += [(node.lineno, name) for node, name, _ in mod.references()]
    problems: dict[str, str] = {}  # module -> the first problem with it (a module is reported once)
    for line, name in sorted(named):
        module = _module(name, mine)
        if not module:
            continue
        if not _admits(mine, module) and (rel, module) not in IMPORT_EXCEPTIONS:
            problems.setdefault(module, f"line {line}: {_shown(name, module)} {_owners(module)}")
        elif mod.top not in PROCESS_OWNERS and PROCESS_RUNNERS.fullmatch(_real(name, mine)):
            problems.setdefault(
                name, f"line {line}: {name} starts a process; only {sorted(PROCESS_OWNERS)} do"
            )
    if mod.top not in PROCESS_OWNERS:
        problems.update(
            {
                f"{line}.{attr}": f"line {line}: .{attr} starts a process; only {sorted(PROCESS_OWNERS)} do"
                for line, attr in members(mod)
                if attr in PROCESS_METHODS
            }
        )
    reach = store_reach_problems(mod)
    return _by_line(list(problems.values()) + _database_problems(mod, path, rel) + reach)


def _database_problems(mod: Module, path: Path, rel: str) -> list[str]:
    """Outside store/ nothing reaches the database through a value: ``store.engine.begin()`` then
    ``conn.exec_driver_sql(...)`` would skip the store's ledger, witness and fencing. Pass the Store (or a
    protocol of :mod:`swarmscope.store.ports`) to a store/ function instead."""
    if mod.top in DATABASE_OWNERS:
        return []
    lines = path.read_text().splitlines()
    return [
        f"line {line}: .{attr} reaches the database; only {sorted(DATABASE_OWNERS)} do (pass the Store)"
        for line, attr in _all_members(mod)
        if attr in DATABASE_MEMBERS
        and not any(rel == where and text in lines[line - 1] for where, text in DATABASE_EXCEPTIONS)
    ]


def _all_members(mod: Module) -> list[tuple[int, str]]:
    """(line, name) of every attribute and literal ``getattr`` name, resolved or not."""
    out = [(n.lineno, n.attr) for n in ast.walk(mod.tree) if isinstance(n, ast.Attribute)]
    return out + [(n.lineno, n.args[1].value) for n in ast.walk(mod.tree) if _is_getattr(n)]  # type: ignore[attr-defined]


def members(mod: Module) -> list[tuple[int, str]]:
    """(line, name) of every member named on an owner the walk cannot resolve (a value): ``x.name`` and a
    literal ``getattr(x, "name")``; resolved names (``asyncio.open_connection``) are judged as names."""
    out = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Attribute) and not mod.qualify(node):
            out.append((node.lineno, node.attr))
        elif _is_getattr(node) and not mod.qualify(node):
            out.append((node.lineno, node.args[1].value))  # type: ignore[attr-defined]
    return out


def _admitted(name: str, mine: set[str]) -> bool:
    """Whether the library a name starts with is (partly) on the allow-list: only then is it imported to
    find out what the name really is."""
    top = name.split(".")[0]
    return _admits(mine, top) or any(entry.startswith(top + ".") for entry in mine)


def _module(name: str, mine: set[str]) -> str | None:
    """The library module a name lives in (None for the project's own names and builtins)."""
    if name == "swarmscope" or name.startswith(("swarmscope.", "builtins.")) or name == "builtins":
        return None
    return real_module(name) if _admitted(name, mine) else name.split(".")[0]


def _real(name: str, mine: set[str]) -> str:
    return real_name(name) if _admitted(name, mine) else name


def _owners(module: str) -> str:
    owners = sorted(package for package, entries in PACKAGE_IMPORTS.items() if _admits(entries, module))
    return f"is owned by {owners}" if owners else "is on no allow-list (SHARED_IMPORTS, PACKAGE_IMPORTS)"


def _shown(name: str, module: str) -> str:
    return module if name == module or _matches(name, module) else f"{module} (through {name})"


def connection_problems(path: Path, root: Path = SRC) -> list[str]:
    """Only net/ (and the testbed) opens connections or listening sockets, through any alias or loop."""
    mod = load(path, root)
    if mod.top in SOCKET_OWNERS:
        return []
    owners = sorted(SOCKET_OWNERS)
    named = [(line, name) for name, line in imported_names(mod)]
    named += [(node.lineno, name) for node, name, _ in mod.references()]
    problems = [f"line {n}: uses {name}; only {owners} open sockets" for n, name in named if _opener(name)]
    problems += dict.fromkeys(
        f"line {n}: uses {name}; only {owners} reach the network"
        for n, name in named
        if NETWORK_CALLS.get(name.split(".")[-1]) == name.split(".")[0] or _msgid_without_domain(mod, name, n)
    )
    resolved = {
        (n.lineno, n.attr) for n in ast.walk(mod.tree) if isinstance(n, ast.Attribute) and mod.qualify(n)
    }
    for line, attr in members(mod):
        if attr in CONNECTION_OPENERS and (line, attr) not in resolved:
            problems.append(f"line {line}: uses .{attr}; only {owners} open sockets")
    return _by_line(problems + launcher_problems(mod))


def _msgid_without_domain(mod: Module, name: str, line: int) -> bool:
    """``email.utils.make_msgid()`` with no ``domain`` asks ``socket.getfqdn()`` (a DNS lookup)."""
    if name != "email.utils.make_msgid":
        return False
    calls = [
        n for n in ast.walk(mod.tree)
        if isinstance(n, ast.Call) and n.lineno == line and mod.qualify(n.func) == name
    ]  # fmt: skip
    return any(len(c.args) < 2 and not any(k.arg == "domain" for k in c.keywords) for c in calls)


def _opener(name: str) -> bool:
    """An opener of any library (a net/ function of the project that happens to share its name is not)."""
    parts = name.split(".")
    return parts[0] not in {"swarmscope", "builtins"} and parts[-1] in CONNECTION_OPENERS
