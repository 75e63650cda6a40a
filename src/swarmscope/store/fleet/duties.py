"""The fleet's periodic duties: which are configured, and the claim that gives each period to one node.

A duty (``timestamp``: RFC 3161 tokens for sealed batches without one; ``purge``: the retention schedules)
is configured once for the whole fleet (``swarmscope fleet timestamping`` / ``fleet retention``): its
period in seconds and its settings (JSON), so every node runs it the same way. Every node's worker looks
for due duties a few times a minute (:mod:`swarmscope.store.fleet.jobs`); :func:`claim_due` gives a due
duty to exactly one of them: one ``UPDATE`` moves ``started_us`` to now (database time, never a node's
clock) only where the last claim is at least a period old, and PostgreSQL's row lock makes a second
claimer re-check that condition after the first committed (READ COMMITTED re-evaluation), so it finds
nothing. A period therefore runs at most once across the fleet. A run still going when its period is
over is left alone (no two nodes stamp the same batches at once); one unfinished two periods after its
claim is presumed dead (its node was killed) and claimed again: a purge is one transaction (it happened
or not), timestamping stamps then whatever is still unstamped.

Errors: every function runs in the caller's transaction (:class:`swarmscope.store.fleet.handle.Fleet`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.store.fleet.leases import NOW_US

DUTIES = ("timestamp", "purge")  # every duty a node knows how to run

_CLAIM = sa.text(f"""
UPDATE fleet_duty SET started_us = {NOW_US}, node_name = :node, finished_us = NULL, outcome = NULL
 WHERE (started_us IS NULL
    OR (finished_us IS NOT NULL AND started_us <= {NOW_US} - every_s * 1000000::bigint)
    OR started_us <= {NOW_US} - 2 * every_s * 1000000::bigint)
   AND name = ANY(:names)
RETURNING name, every_s, settings, started_us
""")


@dataclass(frozen=True, slots=True)
class Duty:
    """One configured duty: name, period (seconds), settings, and its last claim (database time UTC µs,
    node name, finish time, outcome; None when it never ran or is running)."""

    name: str
    every_s: int
    settings: dict[str, Any]
    started_us: int | None = None
    node_name: str | None = None
    finished_us: int | None = None
    outcome: str | None = None


def set_duty(conn: sa.Connection, name: str, every_s: int, settings: Mapping[str, Any]) -> None:
    """Configure duty ``name`` (one of :data:`DUTIES`): period and settings; its last claim is kept."""
    if name not in DUTIES:
        raise ValueError(f"unknown fleet duty {name!r}")
    values = {"name": name, "every_s": every_s, "settings": json.dumps(settings, sort_keys=True)}
    conn.execute(
        sa.text(
            "INSERT INTO fleet_duty (name, every_s, settings) VALUES (:name, :every_s, :settings) "
            "ON CONFLICT (name) DO UPDATE SET every_s = EXCLUDED.every_s, settings = EXCLUDED.settings"
        ),
        values,
    )


def drop_duty(conn: sa.Connection, name: str) -> bool:
    """Stop running duty ``name``; True when it was configured."""
    return conn.execute(sa.text("DELETE FROM fleet_duty WHERE name = :n"), {"n": name}).rowcount > 0


def duties(conn: sa.Connection) -> list[Duty]:
    """Every configured duty with its last claim, by name."""
    rows = conn.execute(
        sa.text(
            "SELECT name, every_s, settings, started_us, node_name, finished_us, outcome "
            "FROM fleet_duty ORDER BY name"
        )
    ).all()
    return [Duty(r.name, int(r.every_s), json.loads(r.settings), *r[3:]) for r in rows]


def claim_due(conn: sa.Connection, node: str, names: list[str]) -> list[Duty]:
    """Claim, for node ``node``, every duty of ``names`` that is due (module docstring; database time).

    Commit right after: the claim is what keeps every other node from running the same period.
    """
    rows = conn.execute(_CLAIM, {"node": node, "names": names}).all()
    return [Duty(r.name, int(r.every_s), json.loads(r.settings), int(r.started_us), node) for r in rows]


def finish(conn: sa.Connection, duty: Duty, outcome: str) -> None:
    """Record the outcome of ``duty``'s claimed run (only if that claim is still the last one)."""
    conn.execute(
        sa.text(
            f"UPDATE fleet_duty SET finished_us = {NOW_US}, outcome = :outcome "
            "WHERE name = :name AND started_us = :started AND node_name = :node"
        ),
        {"outcome": outcome, "name": duty.name, "started": duty.started_us, "node": duty.node_name},
    )
