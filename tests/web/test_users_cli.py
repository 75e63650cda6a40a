"""``swarmscope users`` and ``serve`` option checks: bad input is one line, exit 1, nothing stored."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.access import sessions as session_store
from swarmscope.store.access import users as user_store
from swarmscope.store.console.fold import unfolded_batches
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from swarmscope.store.ledger.schema import ledger_batch
from swarmscope.web.passwords import check_password, secret_sha256
from tests.tampering import tamper_file
from tests.web.conftest import ACME, GLOBEX, NOW, PASSWORD, Template
from tests.web.monitoring_world import build


@pytest.fixture(autouse=True)
def node_key_beside(web_db: Path) -> None:
    """The node key file beside the console database: ``users add/passwd/token/disable`` seal the account
    rows with it (the console started without it verifies nothing; see test_account_seals.py)."""
    open_node_key(default_key_path(str(web_db)))


register_commands()
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text(PASSWORD + "\n")
    return path


def test_users_add_with_client_and_token_and_disable(
    web_db: Path, password_file: Path, web_template: Template
) -> None:
    db = str(web_db)
    code, out = invoke("users", "add", "carol", "--role", "counsel", "--client", ACME,
                       "--password-file", str(password_file), "--db", db)  # fmt: skip
    assert (code, out.strip()) == (0, f"user carol: counsel, client {ACME}")
    result = runner.invoke(app, ["users", "token", "carol", "--db", db])
    token = result.stdout  # the token alone; its id goes to standard error
    assert result.exit_code == 0 and len(token.strip()) >= 43 and "\n" not in token.strip()
    key = web_template.key  # a store with the node key checks tokens against the sealed accounts
    with open_store(db, create=False, node_key=key, now_us=NOW) as store:
        assert user_store.user_by_token(store, secret_sha256(token.strip()), NOW, record=False) is not None
    assert invoke("users", "disable", "carol", "--db", db)[0] == 0
    with open_store(db, create=False, node_key=key, now_us=NOW) as store:
        user = user_store.get_user(store, "carol")
        assert user.disabled_us is not None and user.client == ACME
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert user_store.user_by_token(store, secret_sha256(token.strip()), NOW, record=False) is None


def test_users_add_prompts_twice_for_the_password(web_db: Path) -> None:
    code, out = invoke("users", "add", "dave", "--role", "viewer", "--db", str(web_db),
                       stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert code == 0 and "user dave: viewer" in out
    code, out = invoke("users", "add", "erin", "--role", "viewer", "--db", str(web_db),
                       stdin=f"{PASSWORD}\nsomething else entirely\n")  # fmt: skip
    assert code == 1 and out.strip().endswith("error: the two passwords differ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "superuser"], "error: --role: 'superuser' is not one of viewer|analyst|counsel|admin"),
        (["--role", "nan"], "error: --role: 'nan' is not one of viewer|analyst|counsel|admin"),
        (
            ["--role", "viewer", "--client", "Nobody Inc"],
            "error: --client: no rights holder named 'Nobody Inc'",
        ),
    ],
)
def test_users_add_refuses_bad_input_with_one_line(
    web_db: Path, password_file: Path, args: list[str], message: str
) -> None:
    code, out = invoke(
        "users", "add", "frank", *args, "--password-file", str(password_file), "--db", str(web_db)
    )
    assert code == 1 and len(out.strip().splitlines()) == 1 and out.startswith(message)
    with open_store(str(web_db), create=False) as store:
        assert user_store.find_user(store, "frank") is None


def test_users_add_refuses_a_short_password_and_creates_no_database(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("tiny\n")
    db = tmp_path / "new.db"
    code, out = invoke(
        "users", "add", "gina", "--role", "admin", "--password-file", str(short), "--db", str(db)
    )
    assert code == 1 and out.strip() == "error: password: at least 12 characters"
    assert not db.exists()


def test_users_commands_on_an_unknown_user(web_db: Path) -> None:
    for command in ("token", "disable"):
        code, out = invoke("users", command, "nobody", "--db", str(web_db))
        assert (code, out.strip()) == (1, "error: no user named 'nobody'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "error: --host 0.0.0.0: not a loopback address"),
        (["--host", "example.org"], "error: --host example.org: give an IP address (or localhost)"),
        (["--port", "nan"], "error: --port nan: must be a whole number, at least 1, at most 65535"),
        (["--port", "70000"], "error: --port 70000: must be a whole number"),
        (["--identity-key", "/nonexistent/key"], "error: cannot read identity key file /nonexistent/key"),
        (["--node-key", "/nonexistent/key"], "error: no node key at /nonexistent/key"),
    ],
)
def test_serve_refuses_bad_options(web_db: Path, args: list[str], message: str) -> None:
    code, out = invoke("serve", "--db", str(web_db), *args)
    assert code == 1 and out.startswith(message) and len(out.strip().splitlines()) == 1


def test_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    code, out = invoke("serve", "--db", str(tmp_path / "none.db"))
    assert code == 1 and out.strip() == f"error: database not found: {tmp_path / 'none.db'}"
    assert not (tmp_path / "none.db").exists()


def test_serve_refuses_a_port_another_program_holds(web_db: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code, out = invoke("serve", "--db", str(web_db), "--port", str(port))
    assert code == 1 and out.strip().splitlines()[-1] == (
        f"error: --port {port} on 127.0.0.1: cannot listen: Address already in use"
    )


def test_users_passwd_ends_sessions_and_users_list_shows_roles(
    web_db: Path, web_template: Template, tmp_path: Path
) -> None:
    new = tmp_path / "new-pw"
    new.write_text("a different long password\n")
    session = secret_sha256(web_template.sessions["viewer"][0])
    key = web_template.key  # a store with the node key checks sessions against the sealed accounts
    with open_store(str(web_db), create=False, node_key=key, now_us=NOW) as store:
        assert session_store.find_session(store, session, NOW) is not None
    code, out = invoke("users", "passwd", "viewer", "--password-file", str(new), "--db", str(web_db))
    assert (code, out.strip()) == (0, "user viewer: password changed, sessions ended")
    with open_store(str(web_db), create=False, node_key=key, now_us=NOW) as store:
        assert session_store.find_session(store, session, NOW) is None
        user = user_store.get_user(store, "viewer")
        assert check_password(user.password_hash, "a different long password")
        assert not check_password(user.password_hash, PASSWORD)
    code, out = invoke("users", "list", "--db", str(web_db))
    assert code == 0 and f"acme\tviewer\t{ACME}\tactive" in out.splitlines()


def test_serve_fold_only_folds_the_backlog_and_exits(web_db: Path, web_template: Template) -> None:
    build(web_db, web_template.works[ACME], web_template.works[GLOBEX], NOW, fold=False)
    with open_store(str(web_db), create=False) as store, store.engine.connect() as conn:
        sealed = conn.execute(sa.select(sa.func.count()).select_from(ledger_batch)).scalar_one()
    assert sealed >= 2  # the world's sightings and evidence (and its sealed work links)
    code, out = invoke("serve", "--db", str(web_db), "--fold-only")
    assert code == 0 and out.strip() == f"folded {sealed} sealed batches into the console's read models"
    store = open_store(str(web_db), create=False)
    try:
        assert unfolded_batches(store) == 0
    finally:
        store.close()
    assert invoke("serve", "--db", str(web_db), "--fold-only")[1].strip().startswith("folded 0 sealed")


@pytest.mark.parametrize("name", ["Viewer", "VIEWER", "\uff56iewer", "\uff36IEWER"])  # ｖ, Ｖ: full width
def test_users_add_refuses_a_name_equal_to_another_up_to_case_or_unicode_form(
    web_db: Path, password_file: Path, name: str
) -> None:
    code, out = invoke("users", "add", name, "--role", "counsel", "--password-file", str(password_file),
                       "--db", str(web_db))  # fmt: skip
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    assert out.startswith(f"error: user name {name!r} is the existing user 'viewer' up to case")
    with open_store(str(web_db), create=False) as store:
        assert user_store.find_user(store, name) is None


@pytest.mark.parametrize(
    ("name", "existing"),
    [("\u0410\u0421\u041c\u0415", "acme"),  # АСМЕ: Cyrillic capitals only, the skeleton of ACME
     ("adrnin", "admin"), ("gl0bex", "globex"), ("\uff41\uff44\uff4d\uff49\uff4e", "admin")],  # ａｄｍｉｎ
)  # fmt: skip
def test_users_add_refuses_a_look_alike_of_another_user_across_scripts(
    web_db: Path, password_file: Path, name: str, existing: str
) -> None:
    code, out = invoke("users", "add", name, "--role", "admin", "--password-file", str(password_file),
                       "--db", str(web_db))  # fmt: skip
    assert code == 1 and len(out.strip().splitlines()) == 1, out
    assert out.strip() == (
        f"error: user name {name!r} is the existing user {existing!r} up to case, Unicode form or look-alike "
        "characters (Unicode TS #39 skeleton); choose another name"
    )
    with open_store(str(web_db), create=False) as store:
        assert user_store.find_user(store, name) is None


@pytest.mark.parametrize(
    ("name", "scripts"),
    [("\u0430dmin", "Cyrillic, Latin"), ("ad\u043cin", "Latin, Cyrillic"), ("\u03bdiewer", "Greek, Latin")],
)  # fmt: skip
def test_users_add_refuses_a_name_that_mixes_scripts(
    web_db: Path, password_file: Path, name: str, scripts: str
) -> None:
    code, out = invoke("users", "add", name, "--role", "admin", "--password-file", str(password_file),
                       "--db", str(web_db))  # fmt: skip
    assert (code, out.strip()) == (
        1, f"error: user name {name!r} mixes scripts ({scripts}); write a name in one script "
        "(Unicode TS #39 section 5.1)",
    )  # fmt: skip
    with open_store(str(web_db), create=False) as store:
        assert user_store.find_user(store, name) is None


def test_users_add_refuses_a_mixed_script_name_before_prompting_for_a_password(web_db: Path) -> None:
    code, out = invoke("users", "add", "\u0430dmin", "--role", "admin", "--db", str(web_db))
    assert (code, out) == (
        1, "error: user name '\u0430dmin' mixes scripts (Cyrillic, Latin); write a name in one script "
        "(Unicode TS #39 section 5.1)\n",
    )  # no "Password:" prompt first  # fmt: skip


@pytest.mark.parametrize(
    "name", ["\u0395\u03bb\u03ad\u03bd\u03b7", "\u5c71\u7530\u3055\u304f\u3089", "j.doe_2"]
)
def test_users_add_takes_a_name_in_one_script(web_db: Path, password_file: Path, name: str) -> None:
    code, out = invoke("users", "add", name, "--role", "viewer", "--password-file", str(password_file),
                       "--db", str(web_db))  # fmt: skip
    assert (code, out.strip()) == (0, f"user {name}: viewer")  # Ελένη; 山田さくら (Han with Hiragana)


@pytest.mark.parametrize(
    "args",
    [["add", "zoe", "--role", "viewer", "--password-file", "PW"], ["passwd", "zoe", "--password-file", "PW"],
     ["token", "zoe"], ["disable", "zoe"], ["tokens"], ["list"]],
)  # fmt: skip
def test_users_commands_refuse_a_database_that_does_not_exist(
    tmp_path: Path, password_file: Path, args: list[str]
) -> None:
    (tmp_path / "typo").mkdir()
    typo = tmp_path / "typo" / "evidnce.db"
    code, out = invoke("users", *[str(password_file) if a == "PW" else a for a in args], "--db", str(typo))
    assert (code, out.strip()) == (1, f"error: database not found: {typo}")
    assert list((tmp_path / "typo").iterdir()) == []  # no database, no node key


def _ledger_entries(db: Path) -> int:
    with sqlite3.connect(db) as raw:
        return int(raw.execute("SELECT count(*) FROM ledger_entry").fetchone()[0])


@pytest.mark.parametrize(("client", "claims", "wrong", "right"), [
    (None, "role admin, no client", ["--adopt-role", "viewer"], ["--adopt-role", "admin"]),
    (ACME, f"role admin, client '{ACME}'", ["--adopt-role", "admin"],
     ["--adopt-role", "admin", "--adopt-client", ACME]),
])  # fmt: skip
def test_users_passwd_seals_an_unsealed_row_only_as_the_admin_states_it(
    web_db: Path, password_file: Path, client: str | None, claims: str, wrong: list[str], right: list[str]
) -> None:
    """A user row inserted without the node key (role admin) has no sealed state: ``users list`` flags it;
    ``users passwd`` refuses it naming the role and client the row claims, and so does an adoption that
    states another role or client (exit 1, nothing sealed, the row unchanged); the one stating them
    exactly seals it, and ``users list`` no longer flags it."""
    bound = "NULL" if client is None else f"(SELECT id FROM client WHERE name = '{client}')"
    tamper_file(
        web_db,
        f"INSERT INTO web_user (name, role, client_id, password_hash, added_us) VALUES "
        f"('helpdesk', 'admin', {bound}, NULL, {NOW})",
    )
    code, out = invoke("users", "list", "--db", str(web_db))
    assert code == 0 and "refused until 'users passwd --adopt-role ROLE' states it" in out, out
    before = _ledger_entries(web_db)
    passwd = ["users", "passwd", "helpdesk", "--password-file", str(password_file), "--db", str(web_db)]
    for extra in ([], wrong):
        code, out = invoke(*passwd, *extra)
        assert code == 1 and out.startswith("error: user 'helpdesk' has no sealed state"), out
        assert f"claims {claims}" in out and len(out.strip().splitlines()) == 1, out
    assert _ledger_entries(web_db) == before
    with open_store(str(web_db), create=False) as store:
        assert user_store.get_user(store, "helpdesk").password_hash is None
    code, out = invoke(*passwd, *right)
    assert (code, out.strip()) == (0, "user helpdesk: password changed, sessions ended"), out
    assert _ledger_entries(web_db) > before
    code, out = invoke("users", "list", "--db", str(web_db))
    (line,) = [row for row in out.splitlines() if row.startswith("helpdesk\t")]
    assert line == f"helpdesk\tadmin\t{client or '-'}\tactive", out
