"""An argument that is not valid UTF-8 is one line and exit status 1, never a traceback.

Python decodes ``argv`` with ``surrogateescape`` (PEP 383), so ``--client $'Acme\\xff'`` reaches the
command as ``'Acme\\udcff'``, which SQLite's driver cannot encode (``UnicodeEncodeError``). The root
command group (``cli/app.py``) refuses any such argument for every command, before it runs.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from tests.web.conftest import PASSWORD

register_commands()


def test_an_undecodable_client_is_one_line(web_db: Path, tmp_path: Path) -> None:
    open_node_key(default_key_path(str(web_db)))
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\n")
    args = ["users", "add", "carol", "--role", "viewer", "--client", "Acme\udcff"]
    result = CliRunner().invoke(app, [*args, "--password-file", str(password), "--db", str(web_db)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_an_undecodable_argument_is_refused_before_any_command(tmp_path: Path) -> None:
    """One check for every command: the database is not even opened, the byte is shown as ``\\xff``."""
    db = tmp_path / "never.db"
    result = CliRunner().invoke(app, ["cases", "list", "--db", str(db), "--status", "x\udcff"])
    assert (result.exit_code, result.output) == (1, "error: argument 6 (x\\xff): not UTF-8 text\n")
    assert not db.exists()
    other = CliRunner().invoke(app, ["users", "passwd", "a\ud800", "--db", str(db)])
    assert (other.exit_code, other.output) == (1, "error: argument 3 (a\\ud800): not UTF-8 text\n")
