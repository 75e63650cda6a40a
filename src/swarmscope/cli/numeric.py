"""Every numeric command-line option: finite, in a documented range, or one error line and exit status 1.

Python's ``float()`` accepts ``nan``, ``inf`` and ``1e999`` (= inf), and a bare ``>= 0`` check lets NaN
through (every comparison with NaN is false): a NaN duration killed every probe, and a NaN clock threshold
was sealed into a run's settings. So each numeric option is declared with :func:`number_option` and a
:class:`Bounds`; the same bounds check the Python API (:func:`swarmscope.cli.monitor.run_monitor_command`,
:class:`swarmscope.cli.evidence_options.EvidenceOptions`). ``tests/cli/test_numeric_options.py`` walks
every command and fails for a numeric option declared without it.

A value is parsed from its text exactly once: integers as decimal digits (an optional sign; ``1_000``
and ``0x10`` refused), reals by ``float()`` and then required finite. The range is printed in ``--help``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import typer

from swarmscope.cases.letter_settings import MAX_LETTER_DAYS
from swarmscope.errors import InputError
from swarmscope.store.access.tokens import MAX_DAYS as TOKEN_MAX_DAYS
from swarmscope.store.metadata import MAX_ROW_ID

_INTEGER = re.compile(r"[+-]?[0-9]+")
_REAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Bounds:
    """The range of one numeric option: ``low`` (exclusive when ``low_open``) to ``high``, inclusive.

    ``integer`` options take whole numbers only. ``unit`` names what the number counts (seconds, ms, ...).
    """

    low: float
    high: float
    unit: str
    integer: bool = False
    low_open: bool = False

    def describe(self) -> str:
        """The range as printed in ``--help`` and in errors, e.g. ``more than 0, at most 600 seconds``."""
        low, high = (str(int(x)) if float(x).is_integer() else f"{x:g}" for x in (self.low, self.high))
        first = f"more than {low}" if self.low_open else f"at least {low}"
        kind = "a whole number, " if self.integer else ""
        return f"{kind}{first}, at most {high} {self.unit}".rstrip()

    def holds(self, value: float) -> bool:
        """True when ``value`` is finite, whole for an ``integer`` option, and in range."""
        if not isinstance(value, int) and not math.isfinite(value):
            return False
        if self.integer and not (isinstance(value, int) or float(value).is_integer()):
            return False
        below = value <= self.low if self.low_open else value < self.low
        return not below and value <= self.high

    def check(self, option: str, value: float) -> float:
        """``value`` when it :meth:`holds`.

        Raises:
            InputError: ``<option> <value>: must be ...`` (NaN, an infinity, a fraction for a whole-number
                option, or out of range).
        """
        if not self.holds(value):
            raise InputError(f"{option} {value!r}: must be {self.describe()}")
        return value

    def parse(self, option: str, text: str) -> float | int:
        """The option's text as an int (``integer``) or a finite float, checked against the range.

        Raises:
            InputError: not a number of that kind, or out of range (the message names the option).
        """
        text = text.strip()
        pattern = _INTEGER if self.integer else _REAL
        if len(text) <= 40 and pattern.fullmatch(text):
            value: float | int = int(text) if self.integer else float(text)
            if self.holds(value):
                return value
        shown = text[:40] if text.isprintable() and text and " " not in text else repr(text[:40])
        raise InputError(f"{option} {shown}: must be {self.describe()}")


class NumberError(typer.BadParameter):
    """A bad numeric option value: its message is the whole line (``--option value: must be ...``)."""

    def format_message(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class NumberParser:
    """Typer ``parser`` of one numeric option; usage errors name the option, the value and the range."""

    option: str
    bounds: Bounds

    def __call__(self, value: Any) -> float | int:
        if not isinstance(value, str):  # a default, already a number
            value = str(value)
        try:
            return self.bounds.parse(self.option, value)
        except InputError as exc:
            raise NumberError(str(exc)) from None


def number_option(option: str, bounds: Bounds, help: str, *, default: Any = ..., **extra: Any) -> Any:
    """A ``typer.Option`` for a numeric option, checked by ``bounds``; its help ends with the range.

    ``default`` is for the ``name: float = number_option(...)`` style; leave it out inside ``Annotated``.
    """
    text = f"{help} [{bounds.describe()}]"
    parser = NumberParser(option, bounds)
    if default is ...:
        return typer.Option(option, help=text, parser=parser, **extra)
    return typer.Option(default, option, help=text, parser=parser, **extra)


YEAR_S = 365 * 86_400
RUN_SECONDS = Bounds(0, YEAR_S, "seconds", low_open=True)
DEMO_SECONDS = Bounds(1, 86_400, "seconds")
CONNECT_SECONDS = Bounds(0, 600, "seconds", low_open=True)
NTP_INTERVAL_SECONDS = Bounds(0, 86_400, "seconds", low_open=True)
CLOCK_THRESHOLD_MS = Bounds(0, 3_600_000, "ms", low_open=True)
SMTP_TIMEOUT_SECONDS = Bounds(1, 3_600, "seconds")
TSA_TIMEOUT_SECONDS = Bounds(0.1, 3_600, "seconds")
MAX_PEERS = Bounds(1, 100_000, "probes", integer=True)
PROBE_PROCESSES = Bounds(1, 64, "processes", integer=True)
LISTEN_PORT = Bounds(0, 65_535, "", integer=True)
PORT = Bounds(1, 65_535, "", integer=True)
BACKLOG_MIB = Bounds(0.0625, 65_536, "MiB")  # --max-backlog: evidence waiting for the store
PROOF_CANDIDATES = Bounds(0, 256, "block proofs", integer=True)
MIN_HITS = Bounds(1, 1_000_000, "hits", integer=True)
MIN_VANTAGES = Bounds(1, 1_000, "nodes", integer=True)  # --min-vantages: distinct vantages (networks)
MIN_SPAN_SECONDS = Bounds(0, 10 * YEAR_S, "seconds")  # cases build --min-span, written 1h, 90m, 2d...
LETTER_DAYS = Bounds(1, MAX_LETTER_DAYS, "days", integer=True)  # as a settings file's deadline_days
TOKEN_DAYS = Bounds(1, TOKEN_MAX_DAYS, "days", integer=True)  # users token --expires-days
RETENTION_DAYS = Bounds(1, 36_500, "days", integer=True)
RETENTION_MONTHS = Bounds(1, 1_200, "months", integer=True)
ASN = Bounds(1, 2**32 - 1, "", integer=True)  # RFC 6793: 4-octet AS numbers; 0 is reserved (RFC 7607)
ROW_ID = Bounds(1, MAX_ROW_ID, "", integer=True)  # every back end's id column (store/metadata.py)
STUDY_K = Bounds(2, 1_000_000, "distinct addresses", integer=True)  # research export: k of k-anonymity
UTC_US = Bounds(0, 253_402_300_799_999_999, "UTC µs", integer=True)  # 1970 .. 9999-12-31T23:59:59.999999Z
VANTAGES = Bounds(1, 64, "nodes", integer=True)  # fleet: distinct nodes watching one swarm
CAPACITY = Bounds(1, 100_000, "swarms", integer=True)  # fleet: swarms one node leases at once
LEASE_SECONDS = Bounds(1, 3_600, "seconds")  # fleet: renewed every third of it
DUTY_SECONDS = Bounds(1, YEAR_S, "seconds", integer=True)  # fleet: period of timestamping, retention purges
