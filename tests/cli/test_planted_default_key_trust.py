"""The key kept apart from the database (README "Sealed ledger"), and someone who can write the database and
the directory beside it (not the node key) plants a key of their own at the default path, seals forged
verified hits from 127.0.0.66 with it (and a work link and a witness). ``cases build --db DB`` without
``--node-key`` was refused before the plant ("no node key at ...: this store is signed by <node>"); after
it, it trusts the planted key alone and builds DOE-000001 for an address that never served a byte, without
a word that the store's own node (whose chain says a witness was kept) was not trusted. ``export`` in the
same state names it ("left out: evidence signed by node ..."); ``cases build`` should too, or refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.evidence.records import Observation, Source, Tier
from swarmscope.store.database import open_store
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.cli.letter_world import DAY, HOUR, INFOHASH, T0, TORRENT
from tests.cli.test_anchor_other_node import _seal
from tests.cli.test_verify_db_key_apart import _node, _sealed_apart, app


def _forge(db: str) -> None:
    """Plant a key at the default path and seal four forged verified hits, a work link and a witness."""
    planted = default_key_path(db)
    mine = load_or_create_node_key(planted)
    store = open_store(db, node_key=mine, now_us=T0)
    store.add_swarm(INFOHASH, INFOHASH, None, "example-film.mkv", 8, 262_144, 2_000_000, TORRENT, None, T0)
    run_id = store.start_run({}, "0.1.0", T0 - 11 * DAY)
    first = T0 - 10 * DAY
    hits = [
        Observation(INFOHASH, "127.0.0.66", 6881, Source.TRACKER.value, first + k * HOUR,
                    first + k * HOUR + 4_000_000, Tier.VERIFIED, verified_pieces=(0,), bytes_received=262_144)
        for k in range(4)
    ]  # fmt: skip
    store.commit_evidence(run_id, records=hits, sealed_at_us=T0 - DAY)
    store.close()
    batch = _seal(db, mine, 9)
    write_witness(witness_path(planted), mine, batch.last_index, batch.head_hash)


def test_cases_build_on_a_planted_default_key_names_the_node_left_out(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    honest = runner.invoke(app, ["cases", "build", "--db", db])
    assert honest.exit_code == 1 and "no node key at" in honest.output, honest.output
    _forge(db)
    linked = runner.invoke(app, ["works", "link", "T1", "--torrent", INFOHASH, "--db", db])
    assert linked.exit_code == 0, linked.output
    built = runner.invoke(app, ["cases", "build", "--db", db])
    assert built.exit_code == 1 or _node(tmp_path) in built.output, built.output


def test_serve_on_a_planted_default_key_is_refused_before_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve --db DB`` without ``--node-key``: the console would trust the planted key alone."""
    import swarmscope.cli.serve as serve_cli

    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    served: list[object] = []
    monkeypatch.setattr(serve_cli, "serve", lambda settings, announce: served.append(settings))
    refused = runner.invoke(app, ["serve", "--db", db])
    assert refused.exit_code == 1 and _node(tmp_path) in " ".join(refused.output.split()), refused.output
    assert served == []
    trusted = runner.invoke(app, ["serve", "--db", db, "--trust-key", _node(tmp_path)])
    assert trusted.exit_code == 0 and len(served) == 1, trusted.output  # the node named: no refusal
