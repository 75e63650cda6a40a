"""A fleet node's own copy of a work's reference content: ``swarmscope node --reference WORK=PATH``.

The store keeps the copy's identity (``work.reference_sha256``) and the registering machine's path; each
node names where its copy lives, accepted only when its SHA-256 is the stored one, and a swarm it leases
that carries the work (linked to it, or registered with ``fleet add --work``) gets block proofs from
that copy. A node without one says so and monitors the swarm all the same.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.node import local_references
from swarmscope.errors import InputError
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.registry import FleetSwarm
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.schema import work
from swarmscope.store.migrate import alembic_config
from swarmscope.testbed.content import TorrentContent, build_content
from swarmscope.testbed.process import stop_process
from tests.pg_server import drop_schema

register_commands()  # as the swarmscope entry point does: every command, whatever ran before
PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
CLI = [sys.executable, "-m", "swarmscope.cli"]
SIZE = 5 * 16384  # bytes: five 16 KiB pieces, or three of 32 KiB


def _film(tmp_path: Path) -> tuple[TorrentContent, TorrentContent]:
    """One work's content in two torrents (other piece lengths, so other infohashes)."""
    one = build_content(tmp_path / "t1", size=SIZE, piece_length=16384, seed=b"film", announce=[])
    two = build_content(tmp_path / "t2", size=SIZE, piece_length=32768, seed=b"film", announce=[])
    assert one.infohash_hex != two.infohash_hex
    return one, two


def _copy(content: TorrentContent, where: Path) -> Path:
    where.mkdir(parents=True)
    return Path(shutil.copyfile(content.data_dir / content.name, where / "film-copy.bin"))


def _add_work(store: Store, registered: Path | None, title: str = "Film") -> int:
    return case_rows.add_work(
        store, "Studio", title, None, None if registered is None else str(registered), 1
    )


def test_a_node_names_its_own_copy_checked_against_the_stored_identity(tmp_path: Path) -> None:
    content, _ = _film(tmp_path)
    registered = _copy(content, tmp_path / "registrar")
    mine = _copy(content, tmp_path / "node")
    with open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate()) as store:
        film = _add_work(store, registered)
        plain = _add_work(store, None, "Trailer")
        shutil.rmtree(registered.parent)  # the registering machine's path does not exist on a node
        assert local_references(store, [f"Film={mine}"]) == {film: str(mine.resolve())}
        assert local_references(store, [f"{film}={mine}"]) == {film: str(mine.resolve())}
        altered = tmp_path / "node" / "altered.bin"
        altered.write_bytes(mine.read_bytes()[:-1] + b"\0")
        refusals = {
            f"Film={altered}": "is not work 1 (Film)'s reference copy",
            f"Film={tmp_path / 'none.bin'}": "cannot read",
            f"Sequel={mine}": "'Sequel': not found",
            f"{plain}={mine}": "has no reference content",
            "no-equals-sign": "WORK=PATH",
            f"={mine}": "WORK=PATH",
        }
        for spec, message in refusals.items():
            with pytest.raises(InputError, match=re.escape(message)) as caught:
                local_references(store, [spec])
            assert str(caught.value).startswith("--reference ") and "\n" not in str(caught.value)


def test_revision_0016_fills_the_identity_from_a_readable_copy(tmp_path: Path) -> None:
    content, _ = _film(tmp_path)
    registered = _copy(content, tmp_path / "registrar")
    mine = _copy(content, tmp_path / "node")
    with open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate()) as store:
        film = _add_work(store, registered)
        stored = case_rows.get_work(store, film).reference_sha256
        assert stored is not None and len(stored) == 64
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0014")
            command.upgrade(alembic_config(conn), "head")
        assert case_rows.get_work(store, film).reference_sha256 == stored
        registered.unlink()  # upgraded where the copy is gone: no identity, and the node says what to do
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0014")
            command.upgrade(alembic_config(conn), "head")
            assert conn.execute(sa.select(work.c.reference_sha256)).scalars().all() == [None]
        with pytest.raises(InputError, match=r"not stored .*works seal 1"):
            local_references(store, [f"Film={mine}"])


def _node(url: str, name: str, ip: str, work: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = work / f"{name}.log"
    command_line = [
        *CLI, "node", "--db", url, "--name", name, "--bind", ip, "--listen-port", "0", "--capacity", "2",
        "--lease-seconds", "3", "--no-dht", "--node-key", str(work / f"{name}.pem"), *extra,
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(command_line, stdout=out, stderr=subprocess.STDOUT), log


def _wait_for(log: Path, lines: list[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if all(line in text for line in lines):
            return text
        time.sleep(0.25)
    raise AssertionError(f"{log.name}: no {lines} in\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def pg() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
    try:
        yield PG_URL
    finally:
        drop_schema(PG_URL)


def test_two_nodes_with_the_copy_at_different_paths_and_one_without(pg: str, tmp_path: Path) -> None:
    linked, named = _film(tmp_path)
    registered = _copy(linked, tmp_path / "registrar")
    with open_store(pg, node_key=Ed25519PrivateKey.generate()) as store:
        film = _add_work(store, registered)
        case_rows.link_torrent(store, film, linked.infohash_hex, 2)  # carried by a link (works link) ...
        fleet = Fleet(store)
        for content, title in ((linked, None), (named, "Film")):  # ... and by fleet add --work
            raw = content.torrent_path.read_bytes()
            fleet.add_swarm(FleetSwarm(content.infohash_hex, content.name, raw, None, title, 3))
    shutil.rmtree(registered.parent)
    copies = {
        "n1": _copy(linked, tmp_path / "srv" / "works"),
        "n2": _copy(linked, tmp_path / "data" / "film"),
    }
    started = [
        _node(pg, "n1", "127.0.6.1", tmp_path, "--reference", f"Film={copies['n1']}"),
        _node(pg, "n2", "127.0.6.5", tmp_path, "--reference", f"{film}={copies['n2']}"),
        _node(pg, "n3", "127.0.6.9", tmp_path),
    ]
    swarms = (linked.infohash_hex, named.infohash_hex)
    try:
        for name, (_proc, log) in zip(("n1", "n2"), started[:2], strict=True):
            text = _wait_for(log, [f"back block proofs of {h}" for h in swarms])
            for h in swarms:  # every piece of its own copy verified against each torrent
                pieces = 5 if h == linked.infohash_hex else 3
                assert (
                    f"reference copy of work {film} (Film) at {copies[name].resolve()}: {pieces} pieces back"
                    f" block proofs of {h} ({pieces} verified, 0 mismatched, 0 missing)"
                ) in text, text
        text = _wait_for(
            started[2][1], [f"no reference copy of work {film} (Film) on this node: {h}" for h in swarms]
        )
        assert all(f"leased {h}" in text for h in swarms) and "Traceback" not in text
    finally:
        for proc, _log in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            assert stop_process(proc) == 0  # type: ignore[arg-type]
    for _proc, log in started:
        assert "leases released" in log.read_text(), log.read_text()[-2000:]
    with open_store(pg, create=False) as store, store.engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT infohash, count(*) FROM reference_piece GROUP BY infohash"))
        assert dict(kept.all()) == {linked.infohash_hex: 5, named.infohash_hex: 3}  # committed by the nodes


def test_node_refuses_another_copy_in_one_line_before_it_registers(pg: str, tmp_path: Path) -> None:
    content, _ = _film(tmp_path)
    registered = _copy(content, tmp_path / "registrar")
    with open_store(pg, node_key=Ed25519PrivateKey.generate()) as store:
        _add_work(store, registered)
    other = tmp_path / "other.bin"
    other.write_bytes(registered.read_bytes()[::-1])
    result = CliRunner().invoke(app, ["node", "--db", pg, "--name", "n1", "--reference", f"Film={other}"])
    assert result.exit_code == 1 and "is not work 1 (Film)'s reference copy" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    status = CliRunner().invoke(app, ["fleet", "status", "--db", pg])
    assert status.exit_code == 0 and "nodes: 0" in status.output  # nothing stored for the node
