"""Notices, exhibits and letters state a torrent's name and size only from stored metainfo that hashes to the
case's infohash (BEP 3 / BEP 52), never from the editable ``swarm`` row; other metainfo refuses the notice
and the exhibit line, and leaves the letter's file name "not recorded"."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

from lxml import etree

from swarmscope.cases.acns import ACNS_NS
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.letter_flow import draft_letters, preview_letter
from swarmscope.cases.notices import prepare_notices
from swarmscope.store.database import open_store
from swarmscope.store.legal.notices import sealed_torrent
from swarmscope.wire.bencode import encode
from tests.cases.evidence import node_key_for
from tests.cases.test_exhibits import HOSTILE_NAME, HOUR, IH, T0, TORRENT, build_world
from tests.cli import letter_world as lw

NS = {"a": ACNS_NS}
FAKE_NAME = "Completely Different Movie (2026) 4K"
OTHER = b"d4:info" + encode({b"name": b"other.bin", b"length": 65536, b"piece length": 32768}
                            | {b"pieces": b"\2" * 40}) + b"e"  # fmt: skip


def tamper(db: Path, statement: str, *params: object) -> None:
    """Drop the append-only triggers and run one statement, as someone with write access to the file."""
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute(statement, params)


def test_name_and_size_come_from_the_metainfo_not_the_swarm_row(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    tamper(world.db, "UPDATE swarm SET name = ?, total_size = 99999999999", FAKE_NAME)
    with open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0) as store:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0 + 5 * HOUR)
        exhibits = produce_exhibits(store, tmp_path / "ex", actor="counsel", now_us=T0 + 5 * HOUR)
    assert batch.skipped == [] and len(batch.notices) == 3
    for notice in batch.notices:
        item = etree.fromstring(notice.xml).find("a:Content/a:Item", NS)
        assert item is not None
        assert item.findtext("a:FileName", namespaces=NS) == HOSTILE_NAME
        assert item.findtext("a:FileSize", namespaces=NS) == str(8 * 32768 - 100)
        body = notice.body_path.read_text(encoding="utf-8")
        assert FAKE_NAME not in body and "99999999999" not in body
        assert f"Size:             {8 * 32768 - 100} bytes" in body
    lines = [row for e in exhibits for row in csv.reader(io.StringIO(e.csv_path.read_text(encoding="utf-8")))]
    assert [row[7] for row in lines if row[0].startswith("DOE-")] == ["'" + HOSTILE_NAME] * 3  # formula-safe
    assert not any(FAKE_NAME in cell for row in lines for cell in row)


def test_metainfo_of_another_torrent_refuses_the_notice_and_the_exhibit_line(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    tamper(world.db, "UPDATE swarm SET metainfo = ?, name = 'other.bin'", OTHER)
    refused: list[tuple[str, str]] = []
    with open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0) as store:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0 + 5 * HOUR)
        exhibits = produce_exhibits(
            store, tmp_path / "ex", actor="counsel", now_us=T0 + 5 * HOUR, refused=refused
        )
    reason = "the stored metainfo does not hash to the case's infohash: its name and size are not stated"
    assert batch.notices == []
    assert batch.skipped == [(f"DOE-00000{n}", reason) for n in (1, 2, 3)]
    assert exhibits == [] and refused == [(f"DOE-00000{n}", reason) for n in (1, 2, 3)]
    assert not list((tmp_path / "out").glob("*.txt"))


def test_sealed_torrent() -> None:
    assert sealed_torrent(TORRENT, IH) == (HOSTILE_NAME, 8 * 32768 - 100, None)
    assert sealed_torrent(TORRENT, IH.upper()) == (HOSTILE_NAME, 8 * 32768 - 100, None)
    assert sealed_torrent(None, IH) == (None, None, None)  # a magnet before BEP 9: nothing to state
    assert sealed_torrent(OTHER, IH)[2] is not None
    name, size, problem = sealed_torrent(b"d4:infoi1ee", IH)
    assert (name, size) == (None, None) and problem is not None and "does not parse" in problem


def test_a_letter_names_the_torrent_only_from_metainfo_that_hashes_to_its_infohash(tmp_path: Path) -> None:
    world = lw.build_world(tmp_path)
    doe = world.dois[0]
    try:
        draft_letters(world.store, lw.SETTINGS, [doe], "counsel", lw.T0)
        assert "File name:        example-film.mkv" in preview_letter(world.store, doe).text
        tamper(world.db, "UPDATE swarm SET name = ?", FAKE_NAME)
        text = preview_letter(world.store, doe).text
        assert FAKE_NAME not in text and "File name:        example-film.mkv" in text
        tamper(world.db, "UPDATE swarm SET metainfo = ?, name = 'other.bin'", OTHER)
        text = preview_letter(world.store, doe).text
        assert "other.bin" not in text and "File name:        (not recorded)" in text
    finally:
        world.store.close()
