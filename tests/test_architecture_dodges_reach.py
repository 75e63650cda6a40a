"""Ownership and connection rules against crafted dodges (docs/architecture.md, "Ownership",
"Connections"): the database reached through a Store value outside store/, DNS through a loop, a
Message-ID that asks ``socket.getfqdn()``, and network calls of libraries a package may import
(prometheus-client's push gateway and HTTP server, ``logging.config.listen``, ``uuid.uuid1``).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_network import connection_problems, ownership_problems
from tests.architecture_tree import crafted_tree as _tree


def test_only_store_reaches_the_database_through_a_store_value(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "web/board.py": "def wipe(store):\n    with store.engine.begin() as conn:\n"
                        "        conn.exec_driver_sql('DELETE FROM observations')\n",
        "monitor/x.py": "def rows(store):\n    return getattr(store, 'engine').connect()\n",
        "store/x.py": "def rows(store):\n    return store.engine.connect()\n",
    })  # fmt: skip
    why = "reaches the database; only ['store'] do (pass the Store)"
    assert ownership_problems(root / "web/board.py", root) == [
        f"line 2: .engine {why}",
        f"line 3: .exec_driver_sql {why}",
    ]
    assert ownership_problems(root / "monitor/x.py", root) == [f"line 2: .engine {why}"]
    assert ownership_problems(root / "store/x.py", root) == []


def test_dns_and_library_network_calls_stay_in_net(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "web/peers.py": "import asyncio\nasync def host(ip):\n"
                        "    return await asyncio.get_running_loop().getnameinfo((ip, 0))\n"
                        "async def addr(h, loop):\n    return await loop.getaddrinfo(h, 80)\n",
        "web/metrics.py": "from prometheus_client import push_to_gateway, start_http_server\n"
                          "from prometheus_client.exposition import CONTENT_TYPE_LATEST\n",
        "store/x.py": "import logging.config\ndef f():\n    return logging.config.listen(9030)\n",
        "cases/x.py": "import uuid\nfrom email.utils import make_msgid\n"
                      "def a():\n    return make_msgid(), make_msgid(domain='d'), make_msgid('x', 'd')\n"
                      "def b():\n    return uuid.uuid1()\n",
        "net/x.py": "from email.utils import make_msgid\nimport asyncio\n"
                    "async def f(loop):\n    return make_msgid(), await loop.getaddrinfo('h', 80)\n",
    })  # fmt: skip
    owners = "only ['net', 'testbed']"
    assert connection_problems(root / "web/peers.py", root) == [
        f"line 3: uses .getnameinfo; {owners} open sockets",
        f"line 5: uses .getaddrinfo; {owners} open sockets",
    ]
    assert connection_problems(root / "web/metrics.py", root) == [
        f"line 1: uses prometheus_client.push_to_gateway; {owners} reach the network",
        f"line 1: uses prometheus_client.start_http_server; {owners} reach the network",
    ]
    assert connection_problems(root / "store/x.py", root) == [
        f"line 3: uses logging.config.listen; {owners} reach the network"
    ]
    assert connection_problems(root / "cases/x.py", root) == [
        f"line 4: uses email.utils.make_msgid; {owners} reach the network",  # the first call has no domain
        f"line 6: uses uuid.uuid1; {owners} reach the network",
    ]
    assert connection_problems(root / "net/x.py", root) == []
