"""Rule 2's per-process values (docs/architecture.md, "Purity"): what a pure module computes must not
depend on the process or the machine, even without a clock or I/O.

- Iterating a set: a set of str/bytes is ordered by their hashes, salted per process (PYTHONHASHSEED), so
  ``b"".join(p for p in set(peers))`` differs from run to run. Refused where it is visible in the source: a
  set display, set comprehension, ``set(...)``/``frozenset(...)`` or a ``|``/``&``/``-``/``^`` of one,
  iterated by a ``for``, a comprehension, ``list``/``tuple``/``enumerate``/``zip``/``iter``/``next`` or a
  ``.join``; ``sorted(...)`` around it is the fix. A set bound to a name and iterated later is not seen.
- ``.__hash__`` named anywhere (``sorted(names, key=str.__hash__)``): the same salt.
- A zone given as ``None`` (``fromtimestamp(t, None)``, ``astimezone(None)``): the local zone.
- ``strftime``/``strptime`` with the locale's day and month names (``%a``, ``%b``, ``%c``, ...): LC_TIME.
- ``struct`` with native byte order (no prefix, ``@`` or ``=``): the machine's byte order and alignment
  (Python ``struct`` docs, "Byte Order, Size, and Alignment"); wire formats are big-endian (BEP 3).
"""

from __future__ import annotations

import ast

from tests.architecture_rules import Module

SET_MAKERS = {"builtins.set", "builtins.frozenset"}
ORDER_TAKERS = {"builtins.list", "builtins.tuple", "builtins.enumerate", "builtins.zip", "builtins.iter",
                "builtins.next", "builtins.min", "builtins.max"}  # fmt: skip
# min/max of str are well defined, but of mixed keys by a key function they keep the first of equals
SET_OPERATORS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)
STRUCT_CALLS = {"pack", "unpack", "calcsize", "Struct", "pack_into", "unpack_from", "iter_unpack"}
PORTABLE_ORDER = ("<", ">", "!")
# strftime directives that print the locale's day/month names, AM/PM or date layout (LC_TIME)
LOCALE_DIRECTIVES = ("%a", "%A", "%b", "%B", "%c", "%x", "%X", "%p", "%h", "%r")


def order_problems(mod: Module) -> list[str]:
    """Problem lines of a pure module: set iteration, ``__hash__``, a ``None`` zone, the locale's
    ``strftime`` names, native ``struct``."""
    problems = []
    for node in ast.walk(mod.tree):
        for iterated in _iterated(mod, node):
            if _is_set(mod, iterated):
                problems.append(
                    f"line {iterated.lineno}: iterates a set (order salted per process); wrap it in sorted()"
                )
        if isinstance(node, ast.Attribute) and node.attr == "__hash__":
            problems.append(f"line {node.lineno}: uses .__hash__ (salted per process)")
        if isinstance(node, ast.Call):
            problems += _call_problems(mod, node)
    return problems


def _iterated(mod: Module, node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return [node.iter]
    if not isinstance(node, ast.Call):
        return []
    if mod.qualify(node.func) in ORDER_TAKERS or (
        isinstance(node.func, ast.Attribute) and node.func.attr == "join"
    ):
        return list(node.args)
    return []


def _is_set(mod: Module, node: ast.expr) -> bool:
    if isinstance(node, ast.Set | ast.SetComp):
        return True
    if isinstance(node, ast.Call) and mod.qualify(node.func) in SET_MAKERS:
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, SET_OPERATORS):
        return _is_set(mod, node.left) or _is_set(mod, node.right)
    return False


def _call_problems(mod: Module, call: ast.Call) -> list[str]:
    method = call.func.attr if isinstance(call.func, ast.Attribute) else None
    zone = call.args[1] if method == "fromtimestamp" and len(call.args) > 1 else None
    zone = call.args[0] if method == "astimezone" and call.args else zone
    zone = next((k.value for k in call.keywords if k.arg == "tz"), zone)
    problems = []
    if isinstance(zone, ast.Constant) and zone.value is None:
        problems.append(f"line {call.lineno}: calls .{method}() with the zone None (the local zone)")
    pattern = call.args[0] if method in ("strftime", "strptime") and call.args else None
    if isinstance(pattern, ast.Constant) and any(d in str(pattern.value) for d in LOCALE_DIRECTIVES):
        problems.append(f"line {call.lineno}: calls .{method}() with a locale's names (LC_TIME)")
    name = mod.qualify(call.func) or ""
    if name.startswith("struct.") and name.rsplit(".", 1)[-1] in STRUCT_CALLS and call.args:
        fmt = call.args[0]
        literal = isinstance(fmt, ast.Constant) and isinstance(fmt.value, str | bytes)
        first = fmt.value[:1] if literal else None  # type: ignore[union-attr]
        if not literal or (first.decode() if isinstance(first, bytes) else first) not in PORTABLE_ORDER:
            problems.append(f"line {call.lineno}: {name}() without '<', '>' or '!' (native byte order)")
    return problems
