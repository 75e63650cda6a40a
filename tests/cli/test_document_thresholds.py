"""Every accusing command takes the threshold options of ``cases build``; a hand-written build note does not
loosen them.

A case row for an address with one proven verified hit, and a build note saying ``min_hits=1, min_span=0``,
are inserted by hand (triggers dropped, no node key): ``exhibits``, ``notices``, ``letters draft/preview/
approve/send``, ``escalations mark`` and ``escalations`` refuse it by default, one line naming it and the
failed threshold; given ``--min-hits 1 --min-span 0`` explicitly they carry it. Bad threshold values are one
line and exit status 1, before anything is opened or written.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.identities import IdentityKey, write_key_file
from swarmscope.cases.identity_seal import seal_identified
from swarmscope.cases.letters import TEMPLATES as LETTER_TEMPLATES
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import (
    IH,
    MIN,
    T0,
    attributed,
    fresh_store,
    hit,
    node_key_for,
    seal,
    seal_case_builds,
)
from tests.tampering import tamper_file

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

HONEST, LONE = "127.0.0.2", "127.0.0.9"
PLANTED = "DOE-000099"
LOOSE = ("--min-hits", "1", "--min-span", "0")
NOTE = (
    "build: passed; policy: min_hits=1, min_span=0.0 min, allow_flags=none (below the defaults: min_hits, "
    "min_span), clock_threshold=100 ms (as sealed)"
)
RUNNER = CliRunner()


def _world(tmp_path: Path) -> str:
    """HONEST's case built with the defaults; LONE's one-hit case and its loose note inserted by hand."""
    for store in fresh_store(tmp_path):
        seal(store, [attributed(ip, -1, 64500) for ip in (HONEST, LONE)] + [hit(LONE, 10)])
        seal(store, [hit(HONEST, m) for m in (0, 30, 70)], swarms=())
        sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        assert store.node is not None
        trust = EvidenceTrust(frozenset({store.node.fingerprint}), T0 + 2 * 10**12)
        (honest,) = build_cases(store, ThresholdPolicy(), T0 + 2 * 10**12, trust=trust).created
        db = str(store.engine.url.database)
    at = T0 + 10 * MIN
    _sql(
        db,
        "INSERT INTO legal_case (doe, ip, port, infohash, work_id, isp_id, first_hit_us, last_hit_us, hits, "
        "region, city, status, created_us, status_us) SELECT "
        f"'{PLANTED}', '{LONE}', port, infohash, work_id, isp_id, {at}, {at}, 1, region, city, 'candidate', "
        f"status_us, status_us FROM legal_case WHERE doe = '{honest.doe}'",
        "INSERT INTO case_event (case_id, status, at_us, actor, note) SELECT id, status, status_us, "
        f"'swarmscope', '{NOTE}' FROM legal_case WHERE doe = '{PLANTED}'",
    )
    with open_store(db, node_key=node_key_for(db), now_us=T0 + 2 * 10**12) as store:
        seal_case_builds(store, T0 + 2 * 10**12)  # as a build with its loose thresholds would have sealed it
    return db


def _identify_planted(db: str) -> None:
    """PLANTED identified as ``subscribers import`` leaves a case: an identity row disclosed for LONE over
    the planted hit, the status ``identified``, the identification sealed with the node key (letters are
    drafted only for a proven identification: the thresholds, not the identity, are what is refused)."""
    at = T0 + 10 * MIN
    _sql(
        db,
        "INSERT INTO subscriber (case_id, window_start_us, window_end_us, ip, port, ciphertext, key_id, "
        f"source_sha256, imported_us) SELECT id, {at - MIN}, {at + MIN}, '{LONE}', NULL, X'00', 'k', "
        f"'{'00' * 32}', {at} FROM legal_case WHERE doe = '{PLANTED}'",
        f"UPDATE legal_case SET status = 'identified' WHERE doe = '{PLANTED}'",
    )
    with open_store(db, node_key=node_key_for(db), now_us=at) as store:
        seal_identified(store, [PLANTED], at)


def _sql(db: str, *statements: str) -> None:
    """Write access to the file without the node key: triggers dropped, rows written."""
    tamper_file(db, *statements)


def _refused(result: Result, prefix: str) -> None:
    """One refusal of PLANTED (rich may wrap the notices summary: whitespace is flattened)."""
    out = " ".join((result.stdout + result.stderr).split())
    assert prefix in out, out
    line = out[out.index(prefix) :]
    assert "too_few_hits: 1 verified hit(s), 3 required" in line, out
    assert "the build note (min_hits=1, min_span=0.0 min" in line and "never loosens them" in line, out


def _exhibit_does(out: Path) -> list[str]:
    return sorted(
        row[0]
        for path in out.glob("*.csv")
        for row in list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))[1:]
    )


def test_exhibits_and_notices_refuse_a_hand_inserted_case_unless_asked(tmp_path: Path) -> None:
    db = _world(tmp_path)
    base = ("--actor", "counsel", "--db", db)
    result = RUNNER.invoke(app, ["exhibits", "--out", str(tmp_path / "ex"), *base])
    assert result.exit_code == 0, result.output
    assert _exhibit_does(tmp_path / "ex") == ["DOE-000001"]
    _refused(result, f"warning: left out {PLANTED}: refused")
    result = RUNNER.invoke(app, ["exhibits", "--out", str(tmp_path / "ex2"), *base, *LOOSE])
    assert result.exit_code == 0 and "left out" not in result.output, result.output
    assert _exhibit_does(tmp_path / "ex2") == ["DOE-000001", PLANTED]

    sender = ("--complainant-entity", "Rights Ltd", "--complainant-email", "n@rights.test", "--db", db)
    result = RUNNER.invoke(app, ["notices", "--out", str(tmp_path / "n"), *sender])
    assert result.exit_code == 1 and len(list((tmp_path / "n").glob("*.xml"))) == 1, result.output
    _refused(result, f"skipped {PLANTED}: {PLANTED}: refused")
    result = RUNNER.invoke(app, ["notices", "--out", str(tmp_path / "n2"), *sender, *LOOSE])
    assert result.exit_code == 0 and len(list((tmp_path / "n2").glob("*.xml"))) == 2, result.output


def test_letters_and_escalation_refuse_it_unless_asked(tmp_path: Path) -> None:
    db = _world(tmp_path)
    _identify_planted(db)
    settings = tmp_path / "letters.toml"  # the example settings, paying the case's holder
    example = (LETTER_TEMPLATES / "settings.example.toml").read_text()
    settings.write_text(example.replace('payee = "Example Rights Ltd"', 'payee = "Rights Ltd"'))
    draft = ("letters", "draft", "--case", PLANTED, "--settings", str(settings), "--actor", "c", "--db", db)
    result = RUNNER.invoke(app, list(draft))
    assert result.exit_code == 1 and "drafted letter" not in result.output, result.output
    _refused(result, f"error: {PLANTED}: refused")
    result = RUNNER.invoke(app, [*draft, *LOOSE])
    assert result.exit_code == 0 and "drafted letter" in result.stdout, result.output
    for command in (("letters", "preview", PLANTED), ("letters", "approve", PLANTED, "--actor", "c")):
        result = RUNNER.invoke(app, [*command, "--db", db])
        assert result.exit_code == 1 and result.stdout == "", result.output
        _refused(result, f"error: {PLANTED}: refused")
        result = RUNNER.invoke(app, [*command, "--db", db, *LOOSE])
        assert result.exit_code == 0, result.output
    key = tmp_path / "identity.key"
    write_key_file(key, IdentityKey.generate())
    send = ("letters", "send", "--case", PLANTED, "--identity-key", str(key), "--out", str(tmp_path / "post"))
    result = RUNNER.invoke(app, [*send, "--db", db])
    assert result.exit_code == 1 and "sent" not in result.stdout, result.output
    _refused(result, f"error: {PLANTED}: refused")

    _sql(db, f"UPDATE legal_case SET status = 'no_response' WHERE doe = '{PLANTED}'")
    mark = ("escalations", "mark", PLANTED, "--actor", "counsel", "--db", db)
    result = RUNNER.invoke(app, list(mark))
    assert result.exit_code == 1 and "escalated" not in result.stdout, result.output
    _refused(result, f"error: {PLANTED}: refused")
    # Under the loose thresholds its evidence passes, but its status was edited: no letter ever left, and
    # the litigation list rests on the sealed workflow history, not on the status column.
    result = RUNNER.invoke(app, [*mark, *LOOSE])
    assert result.exit_code == 1 and "escalated" not in result.stdout, result.output
    assert (
        f"{PLANTED}: refused: not on the litigation list by its sealed history (no proven sent letter)"
        in (result.stderr)
    ), result.output
    _sql(db, f"UPDATE legal_case SET status = 'escalated' WHERE doe = '{PLANTED}'")
    result = RUNNER.invoke(app, ["escalations", "--db", db])
    assert result.exit_code == 1 and PLANTED not in result.stdout, result.output
    _refused(result, f"error: left out {PLANTED}: refused")
    result = RUNNER.invoke(app, ["escalations", *LOOSE, "--db", db])
    assert result.exit_code == 1 and f"{PLANTED},{LONE}," not in result.stdout, result.output
    assert f"left out {PLANTED}: refused: not on the litigation list by its sealed history" in result.stderr


GATED = [
    ("exhibits", "--out", "ex"),
    ("notices", "--out", "n"),
    ("letters", "draft", "--case", PLANTED),
    ("letters", "preview", PLANTED),
    ("letters", "approve", PLANTED),
    ("letters", "send", "--case", PLANTED),
    ("escalations",),
    ("escalations", "mark", PLANTED),
]
BAD = [  # (arguments, the validation's own words: never "No such option")
    (("--min-span", "nan"), "--min-span 'nan': a duration such as 1h"),
    (("--min-span", "-1h"), "--min-span '-1h': a duration such as 1h"),
    (("--min-span", "99999d"), "--min-span '99999d': must be at least 0"),
    (("--min-hits", "-1"), "--min-hits -1: must be a whole number, at least 1"),
    (("--clock-threshold-ms", "nan"), "--clock-threshold-ms nan: must be more than 0"),
    (("--allow-flag", "residential"), "--allow-flag 'residential': one of hosting, vpn, tor"),
]


@pytest.mark.parametrize("command", GATED, ids=" ".join)
@pytest.mark.parametrize(("bad", "words"), BAD, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_bad_thresholds_are_one_line_and_exit_1(
    command: tuple[str, ...],
    bad: tuple[str, ...],
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = RUNNER.invoke(app, [*command, *bad, "--db", str(tmp_path / "absent.db")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {words}"), result.stderr
    assert result.stdout == "" and os.listdir(tmp_path) == []  # nothing opened, created or written
