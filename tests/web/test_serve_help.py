"""``serve --node-key`` says what it takes: the node's private key file. A public key PEM is refused (one
line, exit status 1), and the help says so and what a console without the private key can do."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app

register_commands()


def _flat(text: str) -> str:
    """Help text without Rich's box characters and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def test_serve_help_names_the_private_key_and_the_console_without_it() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    assert "public key PEM)" not in text  # "(or its public key PEM)": the console refuses one
    assert "The node's PRIVATE key file (default: beside the database)" in text
    assert "A public key PEM is refused" in text and "--trust-key" in text
    assert "approvals, payments and disputes are refused" in text


def test_serve_refuses_a_public_key_pem_in_one_line(web_db: Path, tmp_path: Path) -> None:
    public = tmp_path / "node-public.pem"
    public.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    public.chmod(0o600)
    result = CliRunner().invoke(app, ["serve", "--db", str(web_db), "--node-key", str(public)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: ") and "private key" in result.output
