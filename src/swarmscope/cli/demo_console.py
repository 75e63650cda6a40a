"""``swarmscope demo --serve``: the web console on the demo's database, with a one-time admin password.

After the demo the newcomer should see its evidence in the browser at once. So the demo's database gets
a rights holder (:data:`DEMO_CLIENT`) whose work is the demo's content, linked to the monitored infohash
(not compared with a reference copy: the scenario's files are gone by then), and an admin user
(:data:`DEMO_ADMIN`) with a generated password printed once; only its Argon2id hash is stored, and a
second ``demo --serve`` on the same database gives that user a new one. The console then runs as
``swarmscope serve`` does, on 127.0.0.1 only (:mod:`swarmscope.web.server`), until Ctrl-C or SIGTERM; it
reads the database and never opens a socket to a peer. Like ``serve`` beside the monitor's key, it holds
the demo's node key (the file beside the database; without one, as ``serve`` without one, it seals and
checks nothing): the admin row is sealed with it, the console
authenticates only accounts whose seal holds, seals the decisions taken in the browser and checks the
chain-head witness beside the key.
"""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from swarmscope.cases.campaigns import link_work
from swarmscope.cases.directory import add_work
from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.cli.node_identity import signing_key, signing_store
from swarmscope.cli.options import now_us
from swarmscope.errors import InputError
from swarmscope.net.bind import Listener
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import cases as case_rows
from swarmscope.web import accounts
from swarmscope.web.server import serve
from swarmscope.web.settings import WebSettings

DEMO_CLIENT = "Demo Pictures"  # the rights holder the demo's content is registered for
DEMO_ADMIN = "demo-admin"
CONSOLE_HOST = "127.0.0.1"


class FinishedDemo(Protocol):
    """The demo's result as the console needs it (:class:`swarmscope.cli.demo.DemoRun`)."""

    @property
    def db(self) -> str: ...
    @property
    def infohash(self) -> str: ...
    @property
    def name(self) -> str: ...


def _register_work(store: Store, run: FinishedDemo, now: int) -> None:
    """The demo's content as a work of :data:`DEMO_CLIENT`, linked to its infohash (again: re-linked)."""
    found = [w.id for w in case_rows.work_rows(store) if w.client == DEMO_CLIENT and w.title == run.name]
    work_id = found[0] if found else add_work(store, DEMO_CLIENT, run.name, None, None, None, now)
    link_work(store, work_id, run.infohash, now)


def _trusted(db: str, now: int) -> frozenset[str]:
    """The fingerprint of the node key beside the demo's database (the monitor made it); none when it is
    missing (letter preview and approval are then refused, as ``swarmscope serve`` says)."""
    try:
        return workflow_trust(db, None, None, now).fingerprints
    except InputError:
        return frozenset()


def demo_console(run: FinishedDemo, sock: Listener, console: Console) -> None:
    """Prepare the demo's database for the console and serve it on ``sock`` (listening on 127.0.0.1, made
    by :func:`swarmscope.web.server.console_socket`) until stopped; ``sock`` is closed afterwards.

    Raises:
        SwarmscopeError: the store cannot be opened or written (``sock`` is closed).
    """
    now = now_us()
    try:
        keyed = default_key_path(run.db).exists()  # the demo's monitor made it; else as ``serve``: no key
        opened = signing_store(run.db, None, now) if keyed else open_store(run.db, create=False)
        with opened as store:  # the admin row sealed with the demo's node key
            _register_work(store, run, now)
            password = accounts.one_time_admin(store, DEMO_ADMIN, now)
        trusted = _trusted(run.db, now)
        key = signing_key(run.db, None)[0] if keyed else None
    except BaseException:
        sock.close()
        raise
    settings = WebSettings(
        run.db, CONSOLE_HOST, sock.getsockname()[1], trusted_keys=trusted, node_key=key,
        witness=witness_path(default_key_path(run.db)),
    )  # fmt: skip

    def announce(url: str) -> None:
        console.print(f"the web console is on {url} (Ctrl-C stops it)", soft_wrap=True)
        console.print(
            f"log in as {DEMO_ADMIN} with the one-time password {escape(password)} "
            "(shown only now; the database keeps its Argon2id hash)",
            soft_wrap=True,
        )
        sys.stdout.flush()  # a pipe (a script, a test) must see the URL while the console runs

    serve(settings, announce, sock)
    console.print("the web console stopped")
