"""The purity and environment rules against the second review's dodges (docs/architecture.md, "Rules"):
modules reached as attributes of allowed ones, aliases of forbidden callables, clock and key calls on
values, and the environment read by a function that runs at import time. Each crafted module must be
caught.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture_dynamic import dynamic_import_problems
from tests.architecture_environment import environment_problems
from tests.architecture_purity import purity_problems


def _module(tmp_path: Path, rel: str, source: str) -> Path:
    """Write a crafted module at ``swarmscope/<rel>`` under tmp_path; returns its path."""
    path = tmp_path / "swarmscope" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


ATTRIBUTE_MODULES = {  # an allowed module's attribute that is another module, or private
    "import uuid\ndef f():\n    return uuid.os.urandom(16)\n": [
        "line 3: calls os.urandom() through uuid.os.urandom"],
    "import contextlib\ndef f():\n    return contextlib.os.environ\n": [
        "line 3: uses os.environ through contextlib.os.environ"],
    "import io\ndef f(p):\n    return io._io.open(p)\n": ["line 3: calls io.open() through io._io.open"],
    "import dataclasses\ndef f(t):\n    dataclasses.sys.stdout.write(t)\n": [
        "line 3: calls sys.stdout.write() through dataclasses.sys.stdout.write"],
    "from uuid import os as system\ndef f():\n    return system.getpid()\n": [
        "line 1: imports os through uuid.os", "line 3: calls os.getpid() through uuid.os.getpid"],
    "import uuid\ndef f():\n    return uuid._uuid\n": ["line 3: uses _uuid through uuid._uuid"],
    "import uuid\ndef f(p):\n    return uuid.__loader__.get_data(p)\n": [
        "line 3: calls uuid.__loader__.get_data()"],
}  # fmt: skip


@pytest.mark.parametrize("source", ATTRIBUTE_MODULES, ids=lambda s: s.split("\n")[2].strip())
def test_modules_reached_through_an_allowed_module(tmp_path: Path, source: str) -> None:
    bad = _module(tmp_path, "evidence/dodge.py", source)
    assert purity_problems(bad, tmp_path / "swarmscope") == ATTRIBUTE_MODULES[source]


ALIASES = """\
import datetime
import functools
from typing import Any

class T(datetime.datetime):
    def later(self):
        return self.utcnow()

def f(clock=datetime.datetime.now):
    now: Any = datetime.datetime.now
    a, b = datetime.datetime.now, 1
    T.now()
    getattr(T, "today")()
    return clock(), now(), a(), b
"""


def test_aliases_of_forbidden_callables(tmp_path: Path) -> None:
    """A subclass of datetime, an annotated or unpacked assignment, a default argument, and the calls of
    each alias."""
    bad = _module(tmp_path, "evidence/alias.py", ALIASES)
    assert purity_problems(bad, tmp_path / "swarmscope") == [
        "line 7: calls self.utcnow() (clock or randomness)",
        "line 9: uses datetime.datetime.now",
        "line 10: uses datetime.datetime.now",
        "line 11: uses datetime.datetime.now",
        "line 12: calls datetime.datetime.now()",
        "line 13: calls datetime.datetime.today()",
        *["line 14: calls datetime.datetime.now()"] * 3,  # clock(), now(), a()
    ]


def test_getattr_handed_on_as_a_value(tmp_path: Path) -> None:
    """``functools.partial(getattr, mod, "x")`` calls getattr where no rule looks; so does ``map``."""
    source = (
        "import datetime, functools\n"
        "NOW = functools.partial(getattr, datetime.datetime, 'now')\n"
        "def f(names):\n    return list(map(getattr, [datetime] * len(names), names))\n"
    )
    bad = _module(tmp_path, "cases/partial.py", source)
    assert dynamic_import_problems(bad, tmp_path / "swarmscope") == [
        "line 2: passes getattr on as a value; call it with a literal name",
        "line 4: passes getattr on as a value; call it with a literal name",
    ]


CLOCK_AND_KEY_CALLS = """\
from cryptography import x509
from cryptography.fernet import Fernet

def stamp(time, system, secrets, random, datetime, date, clock):
    time.monotonic_ns(), time.perf_counter(), time.perf_counter_ns(), time.time_ns()
    time.process_time(), datetime.today(), datetime.utcnow(), date.today(), clock.now()
    x509.random_serial_number(), Fernet.generate_key(), system.urandom(8), system.getrandom(8)
    secrets.token_bytes(8), secrets.choice("ab"), random.random(), random.randbytes(4)
"""


def test_clock_and_key_calls(tmp_path: Path) -> None:
    """Every clock of ``time``, ``today``/``utcnow``, key, serial and nonce generators, on any value."""
    bad = _module(tmp_path, "wire/stamp.py", CLOCK_AND_KEY_CALLS)
    tail = "() (clock or randomness)"
    calls = {
        5: ["time.monotonic_ns", "time.perf_counter", "time.perf_counter_ns", "time.time_ns"],
        6: ["time.process_time", "datetime.today", "datetime.utcnow", "date.today", "clock.now"],
        8: ["secrets.token_bytes", "secrets.choice", "random.random", "random.randbytes"],
    }
    expected = [f"line {line}: calls {call}{tail}" for line, names in calls.items() for call in names]
    expected[9:9] = [
        "line 7: calls cryptography.x509.random_serial_number()",
        "line 7: calls cryptography.fernet.Fernet.generate_key()",
        f"line 7: calls system.urandom{tail}",
        f"line 7: calls system.getrandom{tail}",
    ]
    fernet = ["line 2: imports cryptography.fernet", "line 2: imports cryptography.fernet.Fernet"]
    assert purity_problems(bad, tmp_path / "swarmscope") == fernet + expected  # Fernet: off the allow-list


ENVIRONMENT_IN_A_FUNCTION = """\
import os
from swarmscope.cases.config import load_settings

def _read():
    return os.environ.get("X")

def _outer():
    return _read()

class Settings:
    def __init__(self):
        self.home = os.getenv("HOME")

SETTINGS = _outer()
DEFAULT = Settings()
OTHER = load_settings()

def later():
    return _outer(), Settings(), load_settings()
"""


def test_environment_read_by_a_function_called_at_import_time(tmp_path: Path) -> None:
    """A module-level call of a local function, of a class whose ``__init__`` reads the environment, or of
    another module's function that does, reads it at import time; the same calls in a function do not."""
    root = tmp_path / "swarmscope"
    _module(tmp_path, "cases/config.py", "import os\n\ndef load_settings():\n    return dict(os.environ)\n")
    bad = _module(tmp_path, "cases/settings.py", ENVIRONMENT_IN_A_FUNCTION)
    assert environment_problems(bad, root) == [
        "line 14: calls _outer() at import time, which reads os.environ (line 5)",
        "line 15: calls Settings() at import time, which reads os.getenv (line 12)",
        "line 16: calls swarmscope.cases.config.load_settings() at import time, which reads os.environ "
        "(cases/config.py line 4)",
    ]
