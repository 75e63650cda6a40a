"""Size limits of src/: no function over 60 lines, no module over 400 lines.

A function (a ``lambda`` too) is counted from its ``def`` line to its last line (decorators not counted),
without its docstring: a long docstring is welcome, a long body wants splitting into named steps. A nested
function counts in its own size and in its outer function's. A module is counted in lines. Past these
sizes a reader cannot hold a function, or a module's one concept, in view at once; the cure is a split by
concept (a new module) or into well-named steps, never a longer limit.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture_rules import SRC, modules

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0] if node.body else None
    if not isinstance(first, ast.Expr) or not isinstance(first.value, ast.Constant):
        return 0
    if not isinstance(first.value.value, str) or first.end_lineno is None:
        return 0
    return first.end_lineno - first.lineno + 1


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> int:
    """Lines from ``def`` (or ``lambda``) to the function's end, less its docstring; a nested function
    counts in its own size and in its outer function's."""
    assert node.end_lineno is not None
    doc = 0 if isinstance(node, ast.Lambda) else _docstring_lines(node)
    return node.end_lineno - node.lineno + 1 - doc


def size_problems(text: str, name: str) -> list[str]:
    """One line per function over ``MAX_FUNCTION_LINES`` and for a module over ``MAX_MODULE_LINES``."""
    problems = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"{name}: {lines} lines, more than {MAX_MODULE_LINES}; split it by concept")
    for node in ast.walk(ast.parse(text, name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            size = function_lines(node)
            if size > MAX_FUNCTION_LINES:
                label = node.name if not isinstance(node, ast.Lambda) else "lambda"
                problems.append(
                    f"{name}:{node.lineno}: {label} has {size} lines, more than {MAX_FUNCTION_LINES}"
                )
    return problems


def _sources() -> list[Path]:
    return modules()


def test_sources_are_found() -> None:
    names = {p.relative_to(SRC).as_posix() for p in _sources()}
    assert {"cli/monitor.py", "monitor/crawler.py", "store/migrations/env.py"} <= names


def test_no_function_or_module_too_long() -> None:
    problems = [
        p for path in _sources() for p in size_problems(path.read_text("utf-8"), str(path.relative_to(SRC)))
    ]
    assert not problems, "\n".join(problems)


def _function(body_lines: int, *, docstring_lines: int = 0, decorated: bool = False) -> str:
    head = "@app.command()\n" if decorated else ""
    doc = '    """' + "\n" * (docstring_lines - 1) + '    """\n' if docstring_lines else ""
    return head + "def f(x):\n" + doc + "    x += 1\n" * (body_lines - 1)


def test_a_long_function_is_caught() -> None:
    assert size_problems(_function(60), "ok.py") == []
    assert size_problems(_function(61), "long.py") == ["long.py:1: f has 61 lines, more than 60"]
    at = size_problems("async " + _function(61), "a.py")
    assert at == ["a.py:1: f has 61 lines, more than 60"]


def test_the_docstring_does_not_count_but_the_body_does() -> None:
    assert size_problems(_function(60, docstring_lines=30), "doc.py") == []
    assert size_problems(_function(60, decorated=True), "deco.py") == []
    nested = "class C:\n    " + _function(61).replace("\n", "\n    ")
    assert size_problems(nested, "m.py") == ["m.py:2: f has 61 lines, more than 60"]


def test_a_long_module_is_caught() -> None:
    assert size_problems("x = 1\n" * 400, "ok.py") == []
    assert size_problems("x = 1\n" * 401, "big.py") == [
        "big.py: 401 lines, more than 400; split it by concept"
    ]
