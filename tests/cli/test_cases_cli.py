"""``swarmscope cases`` in-process on sealed evidence: build (thresholds), list, show, event."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.cases  # noqa: F401  (registers the command group)
from swarmscope.cli.app import app
from swarmscope.store import cases as sc
from swarmscope.store.database import open_store
from tests.cases.evidence import IH, T0, attributed, hit, seal

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "c.db")
    with open_store(path, node_key=Ed25519PrivateKey.generate(), now_us=T0) as store:
        sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        records: list[object] = [attributed("127.0.0.2", 0, 64500, region="Bavaria", city="Munich")]
        records += [hit("127.0.0.2", m) for m in (0, 30, 70)]  # a candidate
        records += [hit("127.0.0.3", m) for m in (0, 10)]  # two hits in ten minutes
        records += [
            attributed("127.0.0.4", 0, 64500, ("hosting",)),
            *(hit("127.0.0.4", m) for m in (0, 30, 70)),
        ]
        seal(store, records)
        work = sc.add_work(store, "Rights Ltd", "Film", None, None, T0)
        sc.link_torrent(store, work, IH, T0)
    return path


def test_build_list_show(db: str) -> None:
    code, out = invoke("cases", "build", "--db", db, "-v")
    assert code == 0, out
    assert out.splitlines()[0] == "1 new case(s), 0 existing, 2 address(es) below the thresholds, 0 skipped"
    assert "DOE-000001  candidate    127.0.0.2:6881" in out and "isp=Loopnet" in out
    assert "excluded 127.0.0.3" in out and "too_few_hits" in out and "span_too_short" in out
    assert "excluded 127.0.0.4" in out and "flagged:hosting" in out
    code, out = invoke("cases", "build", "--db", db)
    assert out.splitlines()[0].startswith("0 new case(s), 1 existing")
    code, out = invoke("cases", "list", "--db", db, "--status", "candidate", "--isp", "Loopnet")
    assert code == 0 and out.count("DOE-") == 1
    code, out = invoke("cases", "show", "DOE-000001", "--db", db)
    assert code == 0
    assert "address:       127.0.0.2 port 6881" in out and "work:          Film (Rights Ltd)" in out
    assert "Bavaria / Munich (advisory)" in out and "candidate    by swarmscope" in out
    assert "name" not in out.lower().replace("swarmscope", "")  # no identity fields at all


def test_options_change_the_outcome(db: str) -> None:
    code, out = invoke(
        "cases", "build", "--db", db, "--min-hits", "2", "--min-span", "10m", "--allow-flag", "hosting"
    )
    assert code == 0 and out.startswith("3 new case(s)")


def test_event_records_actor(db: str) -> None:
    invoke("cases", "build", "--db", db)
    code, out = invoke(
        "cases", "event", "DOE-000001", "withdraw", "--db", db, "--actor", "counsel", "--note", "weak"
    )
    assert (code, out) == (0, "DOE-000001: withdrawn\n")
    code, out = invoke("cases", "event", "DOE-000001", "counsel_escalate", "--db", db, "--actor", "counsel")
    assert code == 1 and "'counsel_escalate' is not allowed in status 'withdrawn'" in out
    code, out = invoke("cases", "show", "1", "--db", db)
    assert "withdrawn    by counsel  withdraw: weak" in out


@pytest.mark.parametrize("event", ["approve", "send", "expire", "pay", "dispute", "escalate", "identify"])
def test_steps_with_their_own_checks_cannot_be_forced_through_cases_event(db: str, event: str) -> None:
    """Approval, sending, deadlines, payments... are only recorded by the command that checks them."""
    invoke("cases", "build", "--db", db)
    code, out = invoke("cases", "event", "DOE-000001", event, "--db", db, "--actor", "counsel")
    assert code == 1 and "is not recorded with `cases event`: use `swarmscope" in out
    code, out = invoke("cases", "show", "1", "--db", db)
    assert "candidate" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--allow-flag", "proxy"), "--allow-flag 'proxy'"),
        (("build", "--min-span", "soon"), "--min-span 'soon'"),
        (("build", "--min-hits", "0"), "--min-hits 0"),
        (("build", "--clock-threshold-ms", "0"), "--clock-threshold-ms"),
        (("list", "--status", "lost"), "unknown case status 'lost'"),
        (("show", "DOE-000009"), "not found"),
    ],
)
def test_errors(db: str, args: tuple[str, ...], message: str) -> None:
    code, out = invoke("cases", *args, "--db", db)
    assert code == 1 and message in out


def test_missing_database(tmp_path: Path) -> None:
    code, out = invoke("cases", "list", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "database not found" in out
