"""``swarmscope witness reset``: seal that the chain-head witness was lost, and write a new one.

A database whose chain says a witness was kept and no witness beside the node key is refused by every
command that accuses or seals: a deleted witness cannot be told from a truncated tail. The operator who
lost the file (a backup restored without it) and holds the node key seals the loss instead: the reset is
a sealed decision (:mod:`swarmscope.store.ledger.witness_reset`), a new witness is written at the chain
head found, and ``verify --db``, ``export`` and every accusing command say in a note on each later run
that the tail before that head cannot be proven complete. A witness still there is never replaced.

Source: README "Sealed ledger" (chain-head witness).
"""

from __future__ import annotations

from pathlib import Path

import typer

from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, other_signers, signing_key
from swarmscope.cli.options import DbOption, fail, now_us
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import DEFAULT_DB, open_store
from swarmscope.store.ledger.witness_reset import WitnessReset, reset_witness

witness_app = typer.Typer(
    help="The chain-head witness beside the node key file (README: Sealed ledger).", no_args_is_help=True
)
app.add_typer(witness_app, name="witness")


def run_witness_reset(db: str, node_key: Path | None, now: int) -> WitnessReset:
    """Seal a witness reset in ``db`` with the node key (``node_key`` or the default beside ``db``; it
    must exist and be the key that sealed the store) at ``now`` (UTC µs).

    Raises:
        InputError: no usable key, or a key that sealed nothing in a store other keys sealed.
        SwarmscopeError: no such database; a witness is there (nothing to reset); nothing sealed yet.
    """
    key, path = signing_key(db, node_key)
    store = open_store(db, create=False)
    try:
        others = other_signers(store, key_fingerprint(public_key_raw(key)))
        if others:
            raise InputError(
                f"node key {path} sealed nothing in this store, which {', '.join(others)} sealed: pass"
                " the key file that sealed it with --node-key"
            )
        store.attach_node_key(key, now)
        return reset_witness(store, path, now)
    finally:
        store.close()


@witness_app.command("reset")
def reset(db: DbOption = DEFAULT_DB, node_key: SigningKeyOption = None) -> None:
    """Seal that the chain-head witness is lost and write a new one at the chain's head.

    Only when no witness is beside the node key file (restore it instead when a copy exists). Every later
    `verify --db`, `export` and accusing command notes that the tail before this head cannot be proven
    complete.
    """
    try:
        done = run_witness_reset(db, node_key, now_us())
    except SwarmscopeError as exc:
        raise fail(exc) from None
    where = clean(str(done.witness))
    typer.echo(f"sealed witness reset at chain index {done.index}; new chain-head witness {where}")
    typer.echo(f"note: {clean(done.note())}")
