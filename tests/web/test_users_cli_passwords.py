"""``users add`` and ``users passwd`` refuse a password the login form can never accept, in one line.

The console refuses a C0 control or DEL in any form value before the login route runs
(``web/input_guard.py``), a browser strips line breaks from a password field, and no UTF-8 form carries
a lone surrogate (an undecodable byte, PEP 383); such a password, or one over
:data:`swarmscope.web.passwords.MAX_PASSWORD` characters, would make an account nobody can log in to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.errors import InputError
from swarmscope.store.access import users as user_store
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from swarmscope.web.accounts import check_password_text
from swarmscope.web.passwords import MAX_PASSWORD, check_password
from tests.web.conftest import PASSWORD

register_commands()
BAD = [
    (PASSWORD + "\x00", "control character U+0000"),
    (PASSWORD + "\t", "control character U+0009"),
    ("\x1b[31m" + PASSWORD, "control character U+001B"),
    (PASSWORD + "\x7f", "control character U+007F"),
    (PASSWORD + "\x9b", "control character U+009B"),  # C1 CSI (U+0085 would end the file's first line)
    ("x" * (MAX_PASSWORD + 1), f"at most {MAX_PASSWORD} characters"),
]


def _invoke(web_db: Path, tmp_path: Path, command: str, name: str, password: str) -> tuple[int, str]:
    open_node_key(default_key_path(str(web_db)))
    file = tmp_path / "pw"
    file.write_text(password + "\n", encoding="utf-8")
    role = ["--role", "viewer"] if command == "add" else []
    args = ["users", command, name, *role, "--password-file", str(file), "--db", str(web_db)]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.parametrize(("password", "said"), BAD)
def test_users_add_refuses_a_password_the_form_cannot_send(
    web_db: Path, tmp_path: Path, password: str, said: str
) -> None:
    code, out = _invoke(web_db, tmp_path, "add", "carol", password)
    assert code == 1 and out.startswith("error: password: ") and said in out and out.count("\n") == 1, out
    assert password not in out
    with open_store(str(web_db), create=False) as store:
        assert user_store.find_user(store, "carol") is None


@pytest.mark.parametrize(("password", "said"), BAD[:1] + BAD[-1:])
def test_users_passwd_refuses_it_too(web_db: Path, tmp_path: Path, password: str, said: str) -> None:
    code, out = _invoke(web_db, tmp_path, "passwd", "viewer", password)
    assert code == 1 and said in out and out.count("\n") == 1, out


def test_a_lone_surrogate_is_refused_and_the_bounds_pass() -> None:
    with pytest.raises(InputError, match="undecodable byte"):
        check_password_text(PASSWORD + "\udcff")
    for fine in ("x" * MAX_PASSWORD, PASSWORD + " é 密码 🙂"):
        assert check_password_text(fine) == fine


def test_a_password_file_with_a_bom_or_a_line_separator_keeps_the_password_whole(
    web_db: Path, tmp_path: Path
) -> None:
    """A byte order mark (Windows editors) is not part of the password; the first line ends at LF (or
    CR LF) only, so U+2028 is not a silent cut: the stored hash is of the whole line."""
    open_node_key(default_key_path(str(web_db)))
    for name, raw, password in [
        ("bomuser", b"\xef\xbb\xbf" + PASSWORD.encode() + b"\r\n", PASSWORD),
        ("lsepuser", (PASSWORD + "\u2028tail\n").encode(), PASSWORD + "\u2028tail"),
    ]:
        file = tmp_path / name
        file.write_bytes(raw)
        args = ["users", "add", name, "--role", "viewer", "--password-file", str(file), "--db", str(web_db)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        with open_store(str(web_db), create=False) as store:
            found = user_store.find_user(store, name)
        assert found is not None and check_password(found.password_hash, password)
