"""The settings of one console server (built by ``swarmscope serve`` or a test), passed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SESSION_SECONDS = 8 * 3600  # a working day; a session row expires after it whatever the activity
SESSION_IDLE_SECONDS = 30 * 60  # a session unused this long ends (OWASP Session Management, idle timeout)


@dataclass(frozen=True)
class WebSettings:
    """``db``: SQLite path or SQLAlchemy URL of the store. ``host``/``port``: where ``serve`` listens.
    ``remote``: a non-loopback host was allowed (the server is behind a TLS proxy: cookies get
    ``Secure``). ``identity_key``: the subscriber identity key file, or None (identities not shown).
    ``trusted_keys``: fingerprints (hex SHA-256) of the node keys whose seals the workflow's gates
    accept (``serve --node-key/--trust-key``, as every accusing command takes them); none: the gated
    actions (letter preview and approval) are refused with a message saying so. ``node_key``: the node's
    private key that seals the decisions taken in the browser, or None (those actions are refused).
    ``witness``: the chain-head witness file beside the node key file (``<key file>.head``): every
    accusing action first checks that the database still holds the witnessed head, and every seal the
    console makes moves the witness on, as the CLI's writers do (README "Chain-head witness").
    ``other_witnesses``: copies of other nodes' witnesses (beside copies of their key files, public PEM
    will do: ``SWARMSCOPE_WITNESS_KEYS``), for a console that trusts a fleet's nodes: each trusted node's
    own witness is checked (:func:`swarmscope.store.ledger.witness_cover.require_heads`).
    ``fold``: fold new sealed batches into the console's read models in a background thread while the
    app runs (:mod:`swarmscope.web.folding`); pages never fold, they show how many batches are left.
    ``allowed_hosts``: the names a request's ``Host`` may carry besides 127.0.0.1, localhost, ::1 and
    ``host`` (``serve --allowed-host``: a reverse proxy's public name); any other is refused (DNS
    rebinding: :func:`swarmscope.web.security.trusted_hosts`). ``session_seconds``: a session's absolute
    lifetime; ``session_idle_seconds``: how long it may go unused before it ends (``serve --session-idle``,
    finite and positive; a live page's own polls are not use: :mod:`swarmscope.web.deps`)."""

    db: str
    host: str = "127.0.0.1"
    port: int = 8080
    remote: bool = False
    identity_key: Path | None = None
    session_seconds: int = SESSION_SECONDS
    session_idle_seconds: float = SESSION_IDLE_SECONDS
    trusted_keys: frozenset[str] = frozenset()
    node_key: Ed25519PrivateKey | None = None
    witness: Path | None = None
    other_witnesses: tuple[Path, ...] = ()
    fold: bool = True
    allowed_hosts: frozenset[str] = frozenset()
