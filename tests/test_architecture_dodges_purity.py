"""Rule 2 (pure layers) against crafted dodges (docs/architecture.md, "Purity"): a pure module importing an
impure module of the project, layer 0 (errors.py, the package's ``__init__``) doing I/O, a clock read hidden
in an allowed library (an X.509 verifier with no validation time, a naive ``.timestamp()``), and
per-process or randomized values (``id``, RSA-OAEP, an encrypted key export).
"""

from __future__ import annotations

from pathlib import Path

from tests.architecture_purity import pure_paths, purity_problems
from tests.architecture_tree import crafted_tree as _tree


def test_a_pure_module_imports_only_pure_modules_of_the_project(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "net/clock.py": "import time\ndef utc_now_us():\n    return time.time_ns() // 1000\n",
        "store/legal/cases.py": "def get_case(store, i):\n    return store.engine.connect()\n",
        "research/study_key.py": "import secrets\ndef fresh():\n    return secrets.token_bytes(32)\n",
        "research/cells.py": "X = 1\n",
        "evidence/records.py": "Y = 2\n",
        "monitor/plan.py": "from swarmscope.net.clock import utc_now_us\nimport swarmscope\n"
                           "def due(t):\n    return t < swarmscope.net.clock.utc_now_us()\n",
        "cases/workflow.py": "from swarmscope.store.legal.cases import get_case\n"
                             "from swarmscope.errors import E\n",
        "research/pseudonym.py": "from swarmscope.research import study_key, cells\n"
                                 "from swarmscope.evidence.records import Y\n",
    })  # fmt: skip
    assert purity_problems(root / "monitor/plan.py", root) == [
        "line 1: imports swarmscope.net.clock, which is not pure"
    ]
    assert purity_problems(root / "cases/workflow.py", root) == [
        "line 1: imports swarmscope.store.legal.cases, which is not pure"
    ]  # errors.py is layer 0, held to the rule itself
    assert purity_problems(root / "research/pseudonym.py", root) == [
        "line 1: imports swarmscope.research.study_key, which is not pure"
    ]  # research/__init__, research/cells and evidence/ are pure


def test_layer_zero_and_package_inits_of_pure_modules_are_held_to_the_rule(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "errors.py": "import time\nclass DecodeError(ValueError):\n    at = time.time()\n",
        "research/__init__.py": "import os\nKEY = os.urandom(16)\n",
        "research/cells.py": "",
        "evidence/records.py": "from swarmscope.errors import DecodeError\n",
    })  # fmt: skip
    checked = {p.relative_to(root).as_posix() for p in pure_paths(root)}
    assert {"errors.py", "__init__.py", "research/__init__.py", "evidence/records.py"} <= checked
    assert purity_problems(root / "errors.py", root) == ["line 1: imports time", "line 3: calls time.time()"]
    assert purity_problems(root / "research/__init__.py", root) == [
        "line 1: imports os",
        "line 2: calls os.urandom()",
    ]


def test_an_x509_verifier_must_be_given_the_validation_time(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"evidence/timestamp/certificate.py": (
        "from cryptography.x509.verification import PolicyBuilder, Store\n"
        "def now_ok(leaf, roots):\n"
        "    return PolicyBuilder().store(Store(roots)).build_client_verifier().verify(leaf, [])\n"
        "def then_ok(leaf, roots, at):\n"
        "    return PolicyBuilder().store(Store(roots)).time(at).build_server_verifier().verify(leaf, [])\n"
    )})  # fmt: skip
    assert purity_problems(root / "evidence/timestamp/certificate.py", root) == [
        "line 3: calls .build_client_verifier() on a chain with no .time(...) (verifies at the current time)"
    ]


def test_local_zone_process_values_and_randomized_crypto(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"evidence/x.py": (
        "import contextlib, datetime, hashlib, json.tool\n"
        "from cryptography.hazmat.primitives import serialization\n"
        "def f(stamp, items, key, pub, pad, handle, other, path):\n"
        "    a = int(stamp.strftime('%s')), datetime.datetime.fromisoformat(stamp).timestamp()\n"
        "    b = sorted(items, key=id), type(stamp).now\n"
        "    c = pub.encrypt(b'x', pad), serialization.BestAvailableEncryption(b'pw')\n"
        "    d = hashlib.file_digest(handle, 'sha256'), json.load(other), json.tool.main()\n"
        "    with contextlib.chdir(path):\n"
        "        return stamp.timestamp(tz=1), json.dumps(a), contextlib.suppress(ValueError)\n"
    )})  # fmt: skip
    assert purity_problems(root / "evidence/x.py", root) == [
        "line 1: imports json.tool",
        "line 4: calls .timestamp() without a time zone (the local zone)",
        'line 4: calls .strftime("%s") (seconds in the local zone)',
        "line 5: uses builtins.id",
        "line 5: holds .now (a clock or randomness read later)",
        "line 6: calls cryptography.hazmat.primitives.serialization.BestAvailableEncryption()",
        "line 6: calls .encrypt() with a padding (randomized encryption)",
        "line 7: calls hashlib.file_digest()",
        "line 7: calls json.load()",
        "line 7: calls json.tool.main()",
        "line 8: calls contextlib.chdir()",
    ]
