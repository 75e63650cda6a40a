"""``swarmscope serve`` without the node key: its notes say what is refused and why, logins first (a
session is sealed in the node's chain as an account event, so none can open without the private key;
without any trusted key no account is proven, so API tokens are refused too)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.ledger.node_key import default_key_path
from tests.web.conftest import PASSWORD, Template
from tests.web.demo_console import Lines, free_port

LISTENING = re.compile(r"swarmscope console on (http://127\.0\.0\.1:\d+/)")
NO_SEAL = (
    "note: no node key to seal with: logins are refused (each session is sealed in the node's chain as an "
    "account event; {tokens}), and so are approvals, payments and disputes\n"
)
NO_TRUST = (
    "note: no trusted node key: no account is accepted (each is proven by its events sealed with a trusted "
    "node key), so logins and API tokens are refused; letter preview, approval and documents are refused "
    "too\n"
)


def _log_in(url: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as client:
        form = client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        data = {"name": "viewer", "password": PASSWORD, "login_token": token.group(1), "next": "/"}
        return client.post("/login", data=data)


@pytest.mark.parametrize("trust_public_key", [False, True], ids=["no-key", "public-key-trusted"])
def test_serve_without_the_node_key_says_logins_are_refused_and_why(
    web_db: Path, web_template: Template, trust_public_key: bool
) -> None:
    default_key_path(str(web_db)).unlink()  # the key file beside the database is gone; no --node-key
    trust = ["--trust-key", key_fingerprint(public_key_raw(web_template.key))] if trust_public_key else []
    command = [sys.executable, "-m", "swarmscope.cli", "serve", "--db", str(web_db), "--port",
               str(free_port()), *trust]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = Lines(proc.stdout)  # type: ignore[arg-type]
        url = lines.wait_for(LISTENING, 60).group(1)
        notes = "".join(lines.seen[:-1])
        refused = _log_in(url)
        token = web_template.tokens["viewer"]
        with_token = httpx.get(url + "api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    finally:
        proc.terminate()  # by PID
        proc.wait(30)
    if trust_public_key:
        assert notes == NO_SEAL.format(tokens="API tokens of proven users still work")
        assert with_token.status_code == 200 and with_token.json()["name"] == "viewer"
    else:
        assert notes == NO_TRUST + NO_SEAL.format(tokens="pass --node-key")
        assert with_token.status_code == 401
    assert refused.status_code == 401 and "no node key to seal a session with" in refused.text
