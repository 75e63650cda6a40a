"""Each node's own chain-head witness: the refusals a reader or writer of the ledger makes before it
trusts a chain's tail (:mod:`swarmscope.store.ledger.head_witness` says what a witness is).

A witness vouches for one node only: the node whose key file it sits beside (:func:`foreign_problem`).
So a node whose batches say a witness was kept (:func:`~swarmscope.store.ledger.head_witness.kept_heads`)
must have ITS OWN witness checked; a witness found for another node never stands in for it. Someone who
can write the database's directory but not the directory of the node's key (README "Sealed ledger": keep
them apart) could otherwise truncate the node's tail and plant a key of their own beside the database,
registered and sealed with, and a witness for that chain: the witness found holds, the node's own tail
goes unchecked. :func:`missing_own` names the nodes left without their own witness;
:func:`require_head` refuses them.

Source: README "Sealed ledger" (chain-head witness, key kept apart).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.evidence.seal import key_fingerprint
from swarmscope.store.ledger.head_witness import (
    SET_ASIDE,
    SUFFIX,
    HeadWitness,
    WitnessError,
    kept_heads,
    key_file_fingerprint,
    read_witness,
    witness_problem,
)
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry, node_key

if TYPE_CHECKING:
    from swarmscope.store.ports import DatabaseHandle


def missing_own(
    store: DatabaseHandle, covered: Collection[str], required: Collection[str] | None = None
) -> list[tuple[str, int]]:
    """The nodes (fingerprint derived from the stored public key, last index of the newest batch that
    says a witness was kept), sorted, whose chain says a witness was kept and whose own witness is not
    in ``covered`` (fingerprints whose witness was checked); only those in ``required`` when given."""
    with store.engine.connect() as conn:
        heads = kept_heads(conn)
    return sorted(
        (fp, last) for fp, last in heads.items() if fp not in covered and (required is None or fp in required)
    )


def missing_line(fingerprint: str, last: int, looked: Sequence[Path]) -> str:
    """One line: the node ``fingerprint``'s chain says a witness was kept (to chain index ``last``) but
    none of its own is at ``looked`` (the witness paths looked at), and the ways forward."""
    where = " or ".join(str(p) for p in looked) or "no path"
    return (
        f"node {fingerprint}: its chain says a chain-head witness was kept (sealed to index {last}) but"
        f" there is none at {where} for that node: a deleted witness cannot be told from a truncated tail;"
        " pass --node-key with that node's key file (its witness `<key file>.head` sits beside it; another"
        " node's: a copy of its public key file and witness, named in SWARMSCOPE_WITNESS_KEYS), restore"
        " the witness file kept with the node key, or seal that it was lost with `swarmscope witness reset"
        " --db DB --node-key KEY`"
    )


def require_kept(
    store: DatabaseHandle,
    paths: Sequence[Path],
    required: Collection[str] | None = None,
    covered: Collection[str] = (),
) -> None:
    """Refuse a database in which a node (every node, or those in ``required``) whose chain says a
    witness was kept has not had its own witness checked (``covered``: the fingerprints whose witness
    was): a deleted witness cannot be told from a truncated tail.

    Raises:
        WitnessError: one line naming the first such node's full fingerprint, the witness path(s) looked
            at and the ways forward (:func:`missing_line`).
    """
    missing = missing_own(store, covered, required)
    if missing:
        more = "" if len(missing) == 1 else f" ({len(missing) - 1} more node(s) likewise)"
        raise WitnessError(f"database refused: {missing_line(*missing[0], paths)}{more}")


def foreign_problem(
    store: DatabaseHandle, path: Path, witness: HeadWitness, trusted: frozenset[str] = frozenset()
) -> str | None:
    """Why the witness at ``path`` cannot vouch for the node whose key file it sits beside (None: it can):
    its fingerprint must be that of the key file ``path`` names without ``.head`` (private or public
    PEM), or, with no key file there, one of the ``trusted`` fingerprints the caller was given
    (``--trust-key``: a console run without the private key). Someone who can write that directory could
    otherwise register a key of their own in the database, seal with it and sign a witness for that
    chain, while the node's own tail is truncated. Then the node is judged as having no witness
    (:func:`require_kept`): the line says whether its chain says one was kept.
    """
    key = Path(str(path).removesuffix(SUFFIX))
    owner = key_file_fingerprint(key)
    if owner == witness.fingerprint or (owner is None and witness.fingerprint in trusted):
        return None
    if owner is None:
        return (
            f"chain-head witness {path} (node {witness.fingerprint}) has no readable key file {key} to"
            f" tie it to: refused; put the node's key file (or its public key) there, or {SET_ASIDE}"
        )
    with store.engine.connect() as conn:
        kept = kept_heads(conn, owner).get(owner)
    judged = (
        "its chain never said a witness was kept (with none, its tail is not checked)"
        if kept is None
        else f"its chain says a witness was kept (sealed to index {kept}), so without it the database is"
        " refused as a truncated one"
    )
    return (
        f"chain-head witness {path} is foreign: signed for node {witness.fingerprint}, but the key file"
        f" {key} is node {owner}: refused; judged as no witness for node {owner[:16]}…, {judged}:"
        f" restore the node's own witness, or {SET_ASIDE}"
    )


def require_head(
    store: DatabaseHandle,
    path: Path,
    trusted: frozenset[str] = frozenset(),
    required: Collection[str] | None = None,
) -> str | None:
    """Refuse a ``store`` (a :class:`~swarmscope.store.database.Store`) whose database lacks the head
    witnessed at ``path``, whose witness there is not the key file's (:func:`foreign_problem`), or in
    which a node whose chain says a witness was kept has not had its own witness checked
    (:func:`require_kept`): every command or console action that accuses, and every writer before it
    seals. Takes the store, not its engine: outside ``store/`` no module reaches the database's
    connections.

    ``trusted``: fingerprints (hex) a witness with no key file beside it may be signed for.
    ``required``: the nodes whose own witness this must be when their chain says one was kept (the
    console's trusted nodes); None: with a witness found, no further node; with none, every node.

    Returns:
        The fingerprint of the node whose witness was checked; None when there is none at ``path``.

    Raises:
        WitnessError: naming the witness and what the chain lacks, or why the witness is unusable, or the
            node left without its own witness.
    """
    found = read_witness(path)
    if found is None:
        require_kept(store, [path], required)
        return None
    foreign = foreign_problem(store, path, found[0], trusted)
    if foreign is not None:
        raise WitnessError(f"database refused: {foreign}")
    with store.engine.connect() as conn:
        problem = witness_problem(conn, path)
    if problem is not None:
        raise WitnessError(f"database refused: {problem} (chain-head witness {path})")
    if required is not None:
        require_kept(store, [path], required, {found[0].fingerprint})
    return found[0].fingerprint


def require_heads(
    store: DatabaseHandle,
    paths: Sequence[Path],
    trusted: frozenset[str] = frozenset(),
    required: Collection[str] | None = None,
) -> set[str]:
    """:func:`require_head` over several witness paths (a console's own, beside its key file, and copies
    of other nodes' witnesses beside their public key files: a fleet's nodes each keep theirs on their
    own machine), each witness found checked, then every node in ``required`` (None: every node) whose chain
    says a witness was kept must be among those whose witness was found (:func:`require_kept`).

    Returns:
        The fingerprints of the nodes whose witness was checked.

    Raises:
        WitnessError: as :func:`require_head` for the first path it refuses, or :func:`require_kept`.
    """
    covered = {fp for path in paths if (fp := require_head(store, path, trusted, frozenset())) is not None}
    require_kept(store, paths, required, covered)
    return covered


def untrusted_sealers(store: DatabaseHandle, trusted: Collection[str]) -> list[str]:
    """The nodes (fingerprint derived from the stored public key, sorted) that hold ledger entries or
    batches here and are not ``trusted``, whether their seals hold or not, and any fingerprint two node key
    rows share (a row's key edited to another's), and entries or batches under no node key row (``id N``:
    moved off the honest node's row). A reader that takes its trust from the key file beside
    the database (no ``--node-key``) refuses such a store: with the node's key kept apart, someone who
    can write the database's directory could plant a key there, seal forged hits with it, and blur or
    delete what says the honest node kept a witness (that mark is not read under a signature); the
    honest node's entries stay, and name it. An attacker who also deletes every entry of the honest node
    has replaced the database: no stored fact tells that apart (README "Sealed ledger")."""
    used = sa.union(sa.select(ledger_entry.c.node_id), sa.select(ledger_batch.c.node_id)).subquery()
    query = sa.select(node_key.c.id, node_key.c.public_key, node_key.c.id.in_(sa.select(used.c.node_id)))
    with store.engine.connect() as conn:
        rows = [(key_fingerprint(bytes(pk)), bool(has)) for _id, pk, has in conn.execute(query)]
        keyless = sa.select(used.c.node_id).where(used.c.node_id.not_in(sa.select(node_key.c.id)))
        orphans = [f"id {n} (entries under no node key row)" for n in conn.execute(keyless).scalars()]
    seen: dict[str, int] = {}
    for fp, _has in rows:
        seen[fp] = seen.get(fp, 0) + 1
    return sorted({fp for fp, has in rows if (has and fp not in trusted) or seen[fp] > 1}) + orphans
