"""Run inside a fresh network namespace by ``test_demo_serve.py`` (``unshare --net``): start ``demo --serve``
(its swarm replaced by an empty database, so it takes a second), which moves itself into a namespace of
its own; log in to its console from here; print what was seen as JSON; stop it by PID.

Usage: python -m tests.web.demo_ns_helper DB PORT
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from swarmscope.netns import in_private_netns
from tests.web.demo_console import PASSWORD_LINE, URL_LINE, Lines, log_in, stop

FAKE_DEMO = """
import sys
import swarmscope.cli.demo as demo
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key

def quick_demo(duration, db, workdir, console):  # the monitor leaves its node key beside the database
    open_store(db, create=True, node_key=load_or_create_node_key(default_key_path(db))).close()
    return demo.DemoRun(db, "ab" * 20, "demo-content.bin")

demo.run_demo = quick_demo
sys.argv = ["swarmscope", "demo", "--serve", "--db", sys.argv[1], "--port", sys.argv[2]]
from swarmscope.cli import main
main()
"""


def main(db: str, port: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    # a second interface: to the demo this namespace is not private, so it enters one of its own
    subprocess.run(["ip", "tuntap", "add", "ssdemo0", "mode", "tap"], check=True, timeout=10)
    assert not in_private_netns()
    env = {**os.environ, "COLUMNS": "200"}
    child = subprocess.Popen([sys.executable, "-c", FAKE_DEMO, db, port], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
    try:
        lines = Lines(child.stdout)  # type: ignore[arg-type]
        url = lines.wait_for(URL_LINE, 60).group(1)
        name, password = lines.wait_for(PASSWORD_LINE, 10).groups()
        here = os.stat("/proc/self/ns/net").st_ino
        demo_ns = os.stat(f"/proc/{child.pid}/ns/net").st_ino
        client = log_in(url, name, password)
        works = client.get("/api/works").json()
        client.close()
    finally:
        status = stop(child)
    print(json.dumps({"url": url, "works": works, "demo_moved": demo_ns != here, "status": status,
                      "output": lines.drain(10)}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
