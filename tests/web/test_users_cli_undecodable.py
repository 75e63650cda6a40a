"""An argument that is not valid UTF-8 is one line and exit status 1, never a traceback.

Python decodes ``argv`` with ``surrogateescape`` (PEP 383), so ``--client $'Acme\\xff'`` reaches the
command as ``'Acme\\udcff'``. The user name is refused in one line (its script check), but ``--client`` is
looked up in the store as it is: SQLite's driver cannot encode the surrogate and ``users add`` ends in
``UnicodeEncodeError`` with a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.ledger.node_key import default_key_path, open_node_key
from tests.web.conftest import PASSWORD

register_commands()


@pytest.mark.xfail(strict=True, reason="users add --client with undecodable bytes ends in UnicodeEncodeError")
def test_an_undecodable_client_is_one_line(web_db: Path, tmp_path: Path) -> None:
    open_node_key(default_key_path(str(web_db)))
    password = tmp_path / "pw"
    password.write_text(PASSWORD + "\n")
    args = ["users", "add", "carol", "--role", "viewer", "--client", "Acme\udcff"]
    result = CliRunner().invoke(app, [*args, "--password-file", str(password), "--db", str(web_db)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
