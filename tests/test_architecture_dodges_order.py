"""Per-process values in pure code, against crafted dodges (docs/architecture.md, rule 2 "Purity").

A set of str/bytes iterates in an order salted per process (PYTHONHASHSEED), ``str.__hash__`` is salted
the same way, a ``None`` zone is the machine's local zone, and ``struct`` without a byte-order prefix uses
the machine's byte order: each makes canonical bytes differ between runs or machines.
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_purity import purity_problems
from tests.architecture_tree import crafted_tree as _tree


def test_iterating_a_set_in_pure_code_is_refused_unless_sorted(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"evidence/x.py": (
        "def canonical(peers, a, b):\n    out = b''.join(p for p in set(peers))\n"
        "    for p in {a, b}:\n        out += p\n"
        "    names = [n for n in {x.lower() for x in peers}]\n"
        "    t = tuple(frozenset(peers)), b','.join(set(a) | set(b)), list(set(a) - {b})\n"
        "    ok = b''.join(sorted(set(peers))), [n for n in sorted({a, b})], len(set(peers))\n"
        "    return out, names, t, ok, a in {b}\n"
    )})  # fmt: skip
    assert purity_problems(root / "evidence/x.py", root) == [
        "line 2: iterates a set (order salted per process); wrap it in sorted()",
        "line 3: iterates a set (order salted per process); wrap it in sorted()",
        "line 5: iterates a set (order salted per process); wrap it in sorted()",
        "line 6: iterates a set (order salted per process); wrap it in sorted()",
        "line 6: iterates a set (order salted per process); wrap it in sorted()",
        "line 6: iterates a set (order salted per process); wrap it in sorted()",
    ]


def test_hash_a_none_zone_and_native_struct_order_are_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"wire/x.py": (
        "import datetime, struct\n"
        "def f(names, t, s, n):\n    a = sorted(names, key=str.__hash__)\n"
        "    b = datetime.datetime.fromtimestamp(t, None), s.astimezone(None), s.astimezone(tz=None)\n"
        "    c = struct.pack('I', n), struct.unpack('=H', s), struct.Struct('@I')\n"
        "    return a, b, c, struct.pack('>I', n), struct.pack('!H', n), struct.unpack('<I', s)\n"
        "def g(s):\n    return s.strftime('%c %b %A'), s.strftime('%Y-%m-%dT%H:%M:%SZ')\n"
    )})  # fmt: skip
    assert purity_problems(root / "wire/x.py", root) == [
        "line 3: uses .__hash__ (salted per process)",
        "line 4: calls .fromtimestamp() with the zone None (the local zone)",
        "line 4: calls .astimezone() with the zone None (the local zone)",
        "line 4: calls .astimezone() with the zone None (the local zone)",
        "line 5: struct.pack() without '<', '>' or '!' (native byte order)",
        "line 5: struct.unpack() without '<', '>' or '!' (native byte order)",
        "line 5: struct.Struct() without '<', '>' or '!' (native byte order)",
        "line 8: calls .strftime() with a locale's names (LC_TIME)",
    ]
