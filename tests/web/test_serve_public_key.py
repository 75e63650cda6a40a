"""``serve --node-key pub.pem``: a public key is named as such in one line, not told to be chmod 600.

The node key file of ``serve`` seals the browser's decisions, so it must be the private key; a public key
(RFC 8410 SubjectPublicKeyInfo PEM, usually 0644) is refused for what it is (``store/ledger/node_key``
judges the key type before the permissions).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli import serve as serve_command
from swarmscope.cli.app import app
from swarmscope.store.ledger.node_key import export_public_key, load_or_create_node_key

register_commands()


def _never(*_: object) -> None:
    raise AssertionError("the console started with a public key as its node key")


def test_serve_with_a_public_key_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve_command, "serve", _never)
    public = export_public_key(load_or_create_node_key(tmp_path / "node-key.pem"), tmp_path / "pub.pem")
    public.chmod(0o644)
    args = ["serve", "--db", str(tmp_path / "s.db"), "--node-key", str(public)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "a public key" in result.output, result.output
    assert "chmod" not in result.output
