"""``swarmscope cases`` in-process on sealed evidence: build (thresholds), list, show, event."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, T0, attributed, hit, node_key_for, seal

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def invoke_split(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout, stderr."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "c.db")
    with open_store(path, node_key=node_key_for(path), now_us=T0) as store:
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
    assert out.splitlines()[0] == (
        "1 new case(s), 0 existing, 2 address(es) below the thresholds, 0 skipped, 0 withdrawn"
    )
    assert out.splitlines()[1].startswith("policy: min_hits=3, min_span=60.0 min, allow_flags=none, clock")
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
    assert "policy:        min_hits=3, min_span=60.0 min, allow_flags=none, clock_threshold=100 ms" in out
    assert "name" not in out.lower().replace("swarmscope", "")  # no identity fields at all


def test_options_change_the_outcome_with_warnings_and_on_record(db: str) -> None:
    code, out, err = invoke_split(
        "cases", "build", "--db", db, "--min-hits", "2", "--min-span", "10m", "--allow-flag", "hosting"
    )
    assert code == 0 and out.startswith("3 new case(s)")
    assert "warning: min hits 2 is below the defaults a court-tested policy uses" in err
    assert "warning: min span 10.0 min is below the defaults" in err
    assert "warning: addresses flagged hosting are admitted (opt-in)" in err
    assert "warning" not in out
    code, out = invoke("cases", "show", "DOE-000003", "--db", db)
    assert "policy:        min_hits=2, min_span=10.0 min, allow_flags=hosting (below the defaults" in out
    code, out, err = invoke_split("cases", "build", "--db", db)
    assert code == 0 and err == ""


def test_a_stricter_build_withdraws_candidates_that_no_longer_pass(db: str) -> None:
    invoke("cases", "build", "--db", db, "--min-hits", "2", "--min-span", "5m")
    code, out = invoke("cases", "build", "--db", db, "--actor", "counsel")
    assert code == 0 and "0 new case(s), 1 existing, 2 address(es) below the thresholds" in out
    assert "1 withdrawn" in out.splitlines()[0]
    assert "DOE-000002: no longer passes: too_few_hits: 2 verified hit(s), 3 required" in out
    assert "-> withdrawn" in out
    code, out = invoke("cases", "list", "--db", db, "--status", "candidate")
    assert out.count("DOE-") == 1 and "127.0.0.2:6881" in out
    code, out = invoke("cases", "show", "DOE-000002", "--db", db)
    assert "withdrawn    by counsel  withdraw: no longer passes: too_few_hits" in out
    assert "policy:        min_hits=3, min_span=60.0 min" in out


def test_clock_threshold_may_only_tighten(db: str) -> None:
    code, out = invoke("cases", "build", "--db", db, "--clock-threshold-ms", "250")
    assert code == 1
    assert "--clock-threshold-ms 250: looser than the 100 ms sealed in the run settings" in out
    assert "may only be made stricter" in out
    code, out = invoke("cases", "list", "--db", db)
    assert out == "no cases\n"
    code, out = invoke("cases", "build", "--db", db, "--clock-threshold-ms", "40")
    assert code == 0 and "clock_threshold=40 ms (tightened" in out


def test_cgnat_ports_are_separate_and_noted(tmp_path: Path) -> None:
    path = str(tmp_path / "n.db")
    with open_store(path, node_key=node_key_for(path), now_us=T0) as store:
        records = [hit("127.0.0.7", m, port=p) for m, p in ((0, 50001), (30, 50002), (70, 50003))]
        records += [hit("127.0.0.8", m) for m in (0, 30, 70)] + [hit("127.0.0.8", 40, port=51413)]
        seal(store, records)
        sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    code, out = invoke("cases", "build", "--db", path, "-v")
    assert code == 0 and out.startswith("1 new case(s), 0 existing, 4 address(es) below")
    assert "DOE-000001  candidate    127.0.0.8:6881" in out
    assert "DOE-000001 note: also_seen_on_ports: 127.0.0.8 also seen on ports 51413" in out
    assert "excluded 127.0.0.7 " in out and "(port 50001; also_seen_on_ports: 127.0.0.7 also seen" in out
    code, out = invoke("cases", "show", "DOE-000001", "--db", path)
    assert "also seen on ports 51413" in out


def test_event_records_actor(db: str) -> None:
    invoke("cases", "build", "--db", db)
    code, out = invoke(
        "cases", "event", "DOE-000001", "withdraw", "--db", db, "--actor", "counsel", "--note", "weak"
    )
    # the withdrawal is sealed with the node key (the build sealed the case first, creating the witness)
    assert code == 0 and out.endswith("DOE-000001: withdrawn\n")
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
        (("build", "--min-vantages", "0"), "--min-vantages 0"),
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
