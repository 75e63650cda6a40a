"""Which node keys the console's evidence pages trust, and the batches it has proven (kept per app).

As ``report`` and the workflow do (README "Only proven evidence"), a row is shown as evidence only when it
is proven under a TRUSTED node key, never one merely named by the database. The console trusts the keys
``serve`` was started with (``WebSettings.trusted_keys``: ``--node-key``/``--trust-key``, by default the
key file beside the database), the same as its workflow pages. When it was given none, the monitor's
default key file for the database is looked for again on each request until it exists
(``<db>.node-key.pem`` beside an SQLite file, the per-user data directory's ``swarmscope/node-key.pem``
for PostgreSQL; a public key PEM there is enough): a monitor started after the console creates it. With
no trusted key, sealed rows are shown ``unchecked``, never as evidence.

Batches proven once are kept for the app's life (:class:`ProvenBatches`: the signed record hashes, each
row is still rebuilt and hashed on every view).
"""

from __future__ import annotations

from fastapi import Request

from swarmscope.net.clock import Clock
from swarmscope.store.ledger.head_witness import key_file_fingerprint
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.row_proof import ProvenBatches
from swarmscope.web.settings import WebSettings


def trusted_fingerprints(settings: WebSettings) -> frozenset[str]:
    """The fingerprints the console trusts (module docstring); empty when there are none."""
    if settings.trusted_keys:
        return frozenset(f.lower() for f in settings.trusted_keys)
    found = key_file_fingerprint(default_key_path(settings.db))
    return frozenset() if found is None else frozenset({found})


def request_trust(request: Request) -> tuple[EvidenceTrust | None, ProvenBatches | None]:
    """The app's trust (now = the system clock, UTC µs) and its kept batches; (None, None) with no key.

    Found keys are kept for the app's life; no key is looked for again on the next request (a monitor
    started after the console creates its key file then).
    """
    state = request.app.state
    if getattr(state, "console_trust", None) is None:
        fingerprints = trusted_fingerprints(state.settings)
        if not fingerprints:
            return None, None
        state.console_trust = (fingerprints, ProvenBatches(fingerprints))
    fingerprints, kept = state.console_trust
    return EvidenceTrust(fingerprints, Clock().now_us()), kept
