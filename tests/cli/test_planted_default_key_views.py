"""The node key kept apart from the database (README "Sealed ledger"); someone who can write the database and
the directory beside it (not the node key) plants a key of their own at the default path and seals with it
forged verified hits from 127.0.0.66, a work of their own linked to the swarm, and the build of a case on
those hits. ``cases build``, the documents and ``serve`` run without ``--node-key`` refuse that store (the
node whose chain says a witness was kept is not trusted); ``cases show`` and ``cases list`` take their trust
from the same planted key and say the forged case is "proven by the sealed ledger", with no word of the
node left out (README "Only proven evidence": the views counsel decides from say what the documents say).
"""

from __future__ import annotations

from pathlib import Path

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from tests.cli.letter_world import INFOHASH, T0
from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_verify_db_key_apart import _node, _sealed_apart, app

NOW = T0 + 1_000_000


def _forged_case(db: str) -> None:
    """A work linked and a case built on the forged hits, each sealed with the planted key."""
    planted = load_or_create_node_key(default_key_path(db))
    trust = EvidenceTrust(frozenset({key_fingerprint(public_key_raw(planted))}), NOW)
    with open_store(db, node_key=planted, now_us=T0) as store:
        sc.link_torrent(store, sc.add_work(store, "Forger Ltd", "Forged", None, None, T0), INFOHASH, T0)
        assert [c.doe for c in build_cases(store, ThresholdPolicy(), NOW, trust=trust).created] == [
            "DOE-000001"
        ]


def test_cases_show_on_a_planted_default_key_does_not_say_proven(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    _forged_case(db)
    refused = runner.invoke(app, ["cases", "build", "--db", db])
    assert refused.exit_code == 1 and _node(tmp_path) in refused.output, refused.output
    shown = runner.invoke(app, ["cases", "show", "DOE-000001", "--db", db])
    assert "proven by the sealed ledger" not in shown.output, shown.output
    listed = runner.invoke(app, ["cases", "list", "--db", db])
    assert listed.exit_code == 1 or "UNPROVEN" in listed.output, listed.output
    assert "holds evidence here but is neither" in shown.output + listed.output


def test_report_and_research_export_on_a_planted_default_key(tmp_path: Path) -> None:
    """``report`` shows the rows unchecked with a note naming the honest node; ``research export`` (a
    dataset of proven evidence) is refused in one line and writes nothing."""
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    _forged_case(db)
    report = runner.invoke(app, ["report", "--db", db])
    assert report.exit_code == 0 and _node(tmp_path) in report.output, report.output
    assert "sealed rows are shown unchecked" in report.output and "127.0.0.66" in report.output
    out = tmp_path / "study"
    research = runner.invoke(app, ["research", "export", "--out", str(out), "--db", db])
    assert research.exit_code == 1 and _node(tmp_path) in research.output, research.output
    assert not out.exists()
