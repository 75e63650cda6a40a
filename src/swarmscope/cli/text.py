"""Showing text that came from the network or a file: no Rich markup, no terminal control sequences.

Client names, tracker messages, torrent names and file paths are chosen by whoever made them; a ``[/]`` in a
peer's BEP 10 ``v`` once crashed the live view (Rich markup error), and an ESC sequence in a tracker's failure
reason could rewrite the operator's terminal.
"""

from __future__ import annotations

import functools
import re

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from swarmscope.evidence.records import us_to_iso

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 (but tab, newline), DEL and C1


def clean(text: object) -> str:
    """``str(text)`` with control characters replaced by U+FFFD."""
    return _CONTROL.sub("\ufffd", str(text))


_LINE_BREAK = re.compile(r"[\n\u2028\u2029]")  # the line breaks clean() keeps (CR, VT, FF, NEL are C0/C1)


def one_line(text: object) -> str:
    """:func:`clean` text that stays on one line: newlines and Unicode line and paragraph separators
    (U+2028, U+2029) replaced by U+FFFD too, so a name (a magnet's ``dn`` may carry ``%0a``) cannot
    forge a line of a line-per-item listing or log."""
    return _LINE_BREAK.sub("\ufffd", clean(text))


def plain(text: object) -> Text:
    """A Rich ``Text`` that is never parsed as markup (for table cells and titles)."""
    return Text(clean(text))


def escaped(text: object) -> str:
    """Clean text escaped for use inside a Rich markup string."""
    return escape(clean(text))


def iso(us: int | None) -> str:
    """UTC microseconds as ISO 8601, or ``-``."""
    return "-" if us is None else us_to_iso(us)


@functools.cache
def error_console() -> Console:
    """The standard-error console of a command's warnings and errors, one line each (``soft_wrap``: a
    line is never broken, so it stays parsable). Built on first use, when the command runs: rich reads
    NO_COLOR, COLUMNS and TERM from the environment when a ``Console`` is made, never at import time."""
    return Console(stderr=True, soft_wrap=True)
