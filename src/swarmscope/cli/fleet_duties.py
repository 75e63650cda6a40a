"""How a fleet node runs the fleet's periodic duties, over its own store (composition root of the duties).

The duties are configured once for the fleet (``swarmscope fleet timestamping`` / ``fleet retention``,
stored in ``fleet_duty``) and claimed by one node per period (:mod:`swarmscope.store.fleet.duties`);
this module gives a node the code that runs them:

- ``timestamp``: RFC 3161 tokens (``settings["tsa_url"]``, ``settings["timeout"]`` seconds per request)
  for every sealed batch of the store without one, whichever node sealed it (a token signs nothing in a
  node's chain: :func:`swarmscope.monitor.late_stamps.stamp_unstamped`).
- ``purge``: the retention schedules (``settings["ip_evidence_days"]``, ``settings["identity_months"]``)
  applied as ``swarmscope purge`` does (:func:`swarmscope.cases.purge.apply_retention`), over the node's
  store opened with the node's key: its purge record is sealed with THIS node's key in this node's own
  chain (it names the redacted entries of any node by fingerprint and index; no node signs another's
  chain). Actor in the audit log: ``fleet node NAME``.

Each runner blocks (it runs in a worker thread) and returns one outcome line; errors raise (the job
records them as the run's outcome).
"""

from __future__ import annotations

from collections.abc import Callable

from swarmscope.cases.purge import apply_retention
from swarmscope.cases.retention import RetentionPolicy
from swarmscope.monitor.late_stamps import stamp_unstamped
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store
from swarmscope.store.fleet.duties import Duty


def timestamp_runner(store: Store, clock: Clock) -> Callable[[Duty], str]:
    """The ``timestamp`` duty over ``store``."""

    def run(duty: Duty) -> str:
        timeout = float(duty.settings.get("timeout", 10.0))
        outcome = stamp_unstamped(store, duty.settings.get("tsa_url"), clock, timeout=timeout)
        line = f"{outcome.stamped} batch(es) stamped by {outcome.tsa_url}"
        if outcome.failed:
            line += f"; {len(outcome.failed)} not stamped (first: {outcome.failed[0]})"
        return line

    return run


def purge_runner(store: Store, clock: Clock, node_name: str) -> Callable[[Duty], str]:
    """The ``purge`` duty over ``store`` (opened with this node's key)."""

    def run(duty: Duty) -> str:
        policy = RetentionPolicy(
            int(duty.settings["ip_evidence_days"]), int(duty.settings["identity_months"])
        )
        actor = f"fleet node {node_name}"
        outcome = apply_retention(store, policy, actor=actor, now_us=clock.now_us(), dry_run=False)
        ip = outcome.ip
        line = (
            f"{outcome.identities_deleted} identities deleted ({policy.identity_rule}); "
            f"{ip.addresses} addresses purged ({policy.ip_rule}; ledger entries: {ip.entries})"
        )
        if ip.purge_record is not None:
            fingerprint, index = ip.purge_record
            line += f"; purge record sealed at index {index} by node {fingerprint[:16]}"
        return line

    return run


def duty_runners(store: Store, clock: Clock, node_name: str) -> dict[str, Callable[[Duty], str]]:
    """Every duty a node runs, over its ``store`` (opened with its key) and its ``clock``."""
    return {"timestamp": timestamp_runner(store, clock), "purge": purge_runner(store, clock, node_name)}
