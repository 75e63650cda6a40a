"""``--public-ip`` (monitor, node) and the refused ``--bind`` addresses: one line each, before anything runs.

A node behind NAT names its vantage by the public address the peers see (README "A fleet", Vantages):
sealed in the run settings beside ``bind_ip`` only when declared, read back by the vantage rule.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.monitor_settings import check_options, monitor_config
from swarmscope.errors import InputError
from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE, vantage_of_run
from swarmscope.evidence.records import RunStarted


def _check(bind: str | None, public_ip: str | None) -> None:
    check_options(duration=None, connect_timeout=5.0, bind=bind, public_ip=public_ip)


@pytest.mark.parametrize(
    "public_ip", ["10.0.0.1", "100.64.0.1", "192.168.1.1", "127.0.0.1", "224.0.0.1", "fe80::1", "fd00::1",
                  "::ffff:198.51.100.1", "0.0.0.0", "240.0.0.1", "nope"],
)  # fmt: skip
def test_a_public_ip_that_no_peer_sees_is_refused_in_one_line(public_ip: str) -> None:
    with pytest.raises(InputError, match=r"^--public-ip ") as caught:
        _check(None, public_ip)
    assert "\n" not in str(caught.value)


def test_a_public_ip_without_bind_is_refused_in_one_line() -> None:
    """Without --bind the kernel picks the source address per route: a declared public address would name
    a /24 vantage that no probe is known to come from (README "A fleet", Vantages)."""
    with pytest.raises(InputError, match=r"^--public-ip 198\.51\.100\.7: needs --bind ") as caught:
        _check(None, "198.51.100.7")
    assert "\n" not in str(caught.value)
    register_commands()
    argv = ["node", "--db", "postgresql://nobody@/none", "--name", "n1", "--public-ip", "198.51.100.7"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "needs --bind" in result.output, result.output


def test_a_public_ip_of_another_family_than_the_bind_is_refused() -> None:
    with pytest.raises(InputError, match=r"not of the address family of --bind 127\.0\.0\.1"):
        _check("127.0.0.1", "2001:db8::1")
    _check("127.0.0.1", "198.51.100.7")  # accepted: a documentation address stands for a public one


@pytest.mark.parametrize("bind", ["224.0.0.1", "239.255.255.250", "255.255.255.255", "ff02::1"])
def test_a_multicast_or_broadcast_bind_is_refused_in_one_line(bind: str) -> None:
    with pytest.raises(InputError, match=rf"^--bind {bind}: a multicast or broadcast address is no source"):
        _check(bind, None)


def _run(public_ip: str | None, bind: str | None = "10.0.1.5") -> RunStarted:
    config = monitor_config(
        duration=None, max_peers=1, bind=bind, listen_port=0, connect_timeout=1.0, dht=False,
        dht_bootstrap=None, dht_read_only=False, pex=False, encryption="allow", public_ip=public_ip,
    )  # fmt: skip
    settings = json.dumps(config.as_settings(), sort_keys=True)
    return RunStarted(1, 1, "t", None, settings)


def test_the_public_ip_is_sealed_only_when_declared_and_names_the_vantage() -> None:
    assert "public_ip" not in json.loads(_run(None).settings_json)  # settings as sealed before
    assert vantage_of_run(_run(None), "203.0.113.7") == DEFAULT_ROUTE  # 10.0.1.5 behind NAT: unknown
    declared = _run("198.51.100.7")
    assert json.loads(declared.settings_json)["public_ip"] == "198.51.100.7"
    assert vantage_of_run(declared, "203.0.113.7") == "198.51.100.0/24"
    assert vantage_of_run(declared, "2001:db8::7") == DEFAULT_ROUTE  # another family: the kernel's source


def test_node_refuses_a_private_public_ip_before_touching_the_database() -> None:
    register_commands()
    result = CliRunner().invoke(
        app, ["node", "--db", "postgresql://nobody@/none", "--name", "n1", "--public-ip", "10.0.0.1"]
    )
    assert result.exit_code == 1
    assert "--public-ip 10.0.0.1: not a global unicast address" in result.output, result.output
