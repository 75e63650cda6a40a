"""The letters world (tests/cli/letter_world.py) behind a console: users of each role, two clients.

``Example Rights Ltd`` owns the three identified cases; ``Other Pictures`` owns nothing of them. Users:
``viewer``, ``analyst``, ``counsel`` (unbound), ``example`` (counsel of Example Rights Ltd) and ``other``
(counsel of Other Pictures). The server trusts the world's node key and holds its identity key, as
``swarmscope serve --identity-key`` would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from swarmscope.cli.evidence_trust import workflow_trust
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.legal import cases as case_store
from swarmscope.web.app import create_app
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.cli.letter_world import T0, World, build_world
from tests.web.conftest import asgi_client, quick_user

OWNER, OTHER = "Example Rights Ltd", "Other Pictures"
ROLES = {
    "viewer": (Role.VIEWER, None),
    "analyst": (Role.ANALYST, None),
    "counsel": (Role.COUNSEL, None),
    "example": (Role.COUNSEL, OWNER),
    "other": (Role.COUNSEL, OTHER),
}


@dataclass
class Console:
    world: World
    app: FastAPI
    clients: dict[str, httpx.AsyncClient]

    def __getitem__(self, name: str) -> httpx.AsyncClient:
        return self.clients[name]


def console_app(world: World, *, identity_key: bool = True) -> FastAPI:
    trusted = workflow_trust(str(world.db), None, None, T0).fingerprints
    key = world.key_file if identity_key else None
    settings = WebSettings(db=str(world.db), identity_key=key, trusted_keys=trusted)
    return create_app(settings, store=world.store)


async def open_console(tmp_path: Path, *, identity_key: bool = True) -> AsyncIterator[Console]:
    world = build_world(tmp_path)
    case_store.add_client(world.store, OTHER, None, T0)
    app = console_app(world, identity_key=identity_key)
    clients = {name: asgi_client(app, *quick_user(world.store, name, *spec)) for name, spec in ROLES.items()}
    try:
        yield Console(world, app, clients)
    finally:
        for client in clients.values():
            await client.aclose()
        world.store.close()


def ledger_entries(console: Console) -> int:
    """How many ledger entries the console's store holds (a refused action seals none)."""
    with console.world.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one())
