"""Helpers of the ``demo --serve`` tests: read a running command's output with a deadline, log in over
HTTP as the console's login form expects, stop a process by its PID."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import threading
import time
from typing import IO

import httpx

URL_LINE = re.compile(r"the web console is on (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops it\)")
PASSWORD_LINE = re.compile(r"log in as (\S+) with the one-time password (\S+) \(shown only now")
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


class Lines:
    """The lines of ``stream`` as they come (a daemon thread reads them); ``seen`` keeps them all."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: re.Pattern[str], seconds: float) -> re.Match[str]:
        """The first new line matching ``pattern``; AssertionError after ``seconds`` or at end of output."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError("output ended before: " + pattern.pattern + "\n" + "".join(self.seen))
            self.seen.append(line)
            if found := pattern.search(line):
                return found
        raise AssertionError(f"no line like {pattern.pattern} in {seconds} s:\n" + "".join(self.seen))

    def drain(self, seconds: float) -> str:
        """Everything seen, once the output has ended (AssertionError if it goes on past ``seconds``)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                return "".join(self.seen)
            self.seen.append(line)
        raise AssertionError(f"output still open after {seconds} s:\n" + "".join(self.seen))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_in(base_url: str, name: str, password: str) -> httpx.Client:
    """An HTTP client logged in through the login form (its double-submit token included)."""
    client = httpx.Client(base_url=base_url, timeout=30)
    form = client.get("/login")
    token = LOGIN_TOKEN.search(form.text)
    assert form.status_code == 200 and token is not None, form.text
    answer = client.post(
        "/login", data={"name": name, "password": password, "login_token": token.group(1), "next": "/"}
    )
    assert answer.status_code == 303, answer.text
    return client


def stop(proc: subprocess.Popen[str], seconds: float = 30) -> int:
    """SIGTERM to ``proc`` (by its PID), then its exit status; SIGKILL if it outlives ``seconds``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"pid {proc.pid} did not stop within {seconds} s of SIGTERM") from None
