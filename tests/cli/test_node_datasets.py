"""A fleet node's own copies of registered IP datasets: ``swarmscope node --dataset NAME=PATH`` maps a
dataset's stable name to this machine's file, accepted only when its SHA-256 is the registered one, and
the node's monitor attributes from that file; without the option nothing changes (the registered path)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.attribution.datasets import Fingerprint, fingerprint
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.node import local_datasets
from swarmscope.errors import InputError
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.records import Attribution, Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.evidence_sink import EvidenceSink
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.datasets import register_dataset
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.testbed.mmdb import build_test_datasets
from tests.pg_server import drop_schema
from tests.store.factories import add_swarms, observation

register_commands()  # as the swarmscope entry point does: every command, whatever ran before
PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")


def _register(store: Store, path: Path) -> Fingerprint:
    fp = fingerprint(path, "hosting")
    register_dataset(
        store, name=fp.name, kind=fp.kind, database_type=fp.database_type, build_us=fp.build_us,
        sha256=fp.sha256, size=fp.size, path=str(fp.path), now_us=1,
    )  # fmt: skip
    return fp


def _other_machine(tmp_path: Path) -> tuple[Path, Path]:
    """The registering machine's file (then gone from this one) and this node's copy of it."""
    registered = build_test_datasets(tmp_path / "registrar")["hosting"]
    copy = tmp_path / "node" / "hosting-copy.txt"
    copy.parent.mkdir()
    shutil.copyfile(registered, copy)
    return registered, copy


def test_a_node_maps_a_dataset_name_to_its_own_checked_copy(tmp_path: Path) -> None:
    registered, copy = _other_machine(tmp_path)
    with open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate()) as store:
        fp = _register(store, registered)
        assert local_datasets(store, [f"{fp.name}={copy}"]) == {fp.sha256: str(copy)}
        altered = tmp_path / "node" / "altered.txt"
        altered.write_text(copy.read_text() + "127.0.9.9\n")
        refusals = {
            f"{fp.name}={altered}": "is not the registered",
            f"{fp.name}={tmp_path / 'none.txt'}": "cannot read dataset",
            f"GeoLite2-Nothing={copy}": "no active registered dataset named 'GeoLite2-Nothing'",
            "no-equals-sign": "NAME=PATH",
            f"={copy}": "NAME=PATH",
        }
        for spec, message in refusals.items():
            with pytest.raises(InputError, match=message) as caught:
                local_datasets(store, [spec])
            assert str(caught.value).startswith("--dataset ") and "\n" not in str(caught.value)


def _attribute(store: Store, config: MonitorConfig) -> tuple[list[Attribution], list[str]]:
    warnings: list[str] = []

    async def run() -> None:
        sink = EvidenceSink(store, config, Clock(), warnings.append)
        writer, *rest = await sink.start()
        for task in rest:
            task.cancel()
        sink.observed(observation(ip="127.0.2.9", tier=Tier.CONNECTED))
        await sink.stop(writer)

    asyncio.run(run())
    records = [record_from_canonical(data) for _, _, data in load_ledger(store)]
    return [r for r in records if isinstance(r, Attribution)], warnings


def test_the_node_attributes_from_its_copy_when_the_registered_path_is_not_here(tmp_path: Path) -> None:
    registered, copy = _other_machine(tmp_path)
    with open_store(str(tmp_path / "e.db"), node_key=Ed25519PrivateKey.generate()) as store:
        add_swarms(store)
        fp = _register(store, registered)
        shutil.rmtree(registered.parent)  # the registering machine's path does not exist on a node
        unmapped, warnings = _attribute(store, MonitorConfig(peer_id=b"-SS0100-nodenodenode"))
        assert unmapped == [] and "IP datasets unusable" in warnings[0]  # as before: no silent change
        config = MonitorConfig(peer_id=b"-SS0100-nodenodenode", dataset_paths={fp.sha256: str(copy)})
        (attribution,), warnings = _attribute(store, config)
    assert warnings == []
    assert attribution.ip == "127.0.2.9" and attribution.flags == ("hosting",)
    assert attribution.datasets == (fp.sha256,)  # cites the fingerprint, never a path


@pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
def test_node_refuses_a_mismatching_copy_in_one_line_before_it_registers(tmp_path: Path) -> None:
    assert PG_URL is not None
    registered, copy = _other_machine(tmp_path)
    try:
        with open_store(PG_URL) as store:
            fp = _register(store, registered)
        copy.write_text(copy.read_text() + "127.0.9.9\n")
        result = CliRunner().invoke(
            app, ["node", "--db", PG_URL, "--name", "n1", "--dataset", f"{fp.name}={copy}"]
        )
        assert result.exit_code == 1 and "is not the registered" in result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
        status = CliRunner().invoke(app, ["fleet", "status", "--db", PG_URL])
        assert status.exit_code == 0 and "nodes: 0" in status.output  # nothing stored for the node
    finally:
        drop_schema(PG_URL)
