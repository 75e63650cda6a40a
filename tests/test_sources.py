"""Comments and docstrings in src/ cite the source a rule rests on, never a ticket number.

A source outlives the tracker: a BEP and its section (``../shared/specs/beps/``), an RFC, a court ruling or
practice the README names, an interop quirk id (``../shared/specs/interop-quirks.md``: PW-13, DHT-04, ...),
a standard (ACNS 2.0 v1.2, RFC 3161, RFC 4330) or the README section that documents the behaviour. "issue 4
item 2" tells a reader of the code nothing once the tracker is gone, so a comment or docstring (any bare
string statement) naming an issue number is a problem. The verb ("we issue 2-byte tids") is not a citation.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from tests.architecture_rules import SRC, modules

# "issue 5", "Issue 4 item 2", "issues 2 and 3", "issue #8", "issue 5 #8"; not "issue 2-byte ids".
ISSUE_CITATION = re.compile(r"\bissues?\s*#\s*\d+|\bissues?\s+\d+(?![\w-])", re.IGNORECASE)


def _comments(text: str) -> list[tuple[int, str]]:
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]


def _docstrings(text: str) -> list[tuple[int, str]]:
    """Every bare string statement: module, class and function docstrings and attribute docstrings."""
    out = []
    for node in ast.walk(ast.parse(text)):
        value = node.value if isinstance(node, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            out.append((value.lineno, value.value))
    return out


def citation_problems(text: str, name: str) -> list[str]:
    """One line per comment or docstring of ``text`` that cites an issue number: ``name:line: 'issue 4'``."""
    problems = []
    for line, chunk in sorted(_comments(text) + _docstrings(text)):
        for match in ISSUE_CITATION.finditer(chunk):
            at = line + chunk.count("\n", 0, match.start())
            problems.append(f"{name}:{at}: cites {match.group(0)!r}; name the BEP, RFC, ruling or quirk")
    return problems


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_issue_numbers_in_comments_or_docstrings(path: Path) -> None:
    problems = citation_problems(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert not problems, "\n".join(problems)


CRAFTED = '''"""Sealed ledger (issue 4 item 3).

Steps (Issue 2, "The probe").
"""

X = 1
"""Attribute docstring citing issues 2 and 3."""


def f() -> None:
    """Retention purge (issue 5 #8)."""
    tid = b"ab"  # DHT-04: we issue 2-byte tids; see issue #12
    print("issue 7 in a message is not a comment")
'''


def test_crafted_module_citing_issue_numbers_is_caught() -> None:
    problems = citation_problems(CRAFTED, "crafted.py")
    assert problems == [
        "crafted.py:1: cites 'issue 4'; name the BEP, RFC, ruling or quirk",
        "crafted.py:3: cites 'Issue 2'; name the BEP, RFC, ruling or quirk",
        "crafted.py:7: cites 'issues 2'; name the BEP, RFC, ruling or quirk",
        "crafted.py:11: cites 'issue 5'; name the BEP, RFC, ruling or quirk",
        "crafted.py:12: cites 'issue #12'; name the BEP, RFC, ruling or quirk",
    ]


def test_sources_and_the_verb_pass() -> None:
    clean = '"""BEP 3 section "peer messages"; RFC 3161; interop PW-13."""\nX = 1  # we issue 2-byte tids\n'
    assert citation_problems(clean, "clean.py") == []
