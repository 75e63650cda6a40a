"""Where the benchmark smoke tests find the C stub farm, and when they must skip.

``REFS``: the stub farm sources: ``$SWARMSCOPE_BENCH_REFS``, else the shared folder's ``bench/`` (../shared
beside the project, or ``$SWARMSCOPE_SHARED``: tests/conftest.py), as bench/farm.py finds them.
``STUB_FARM_MARKS``: the ``pytestmark`` of a test that builds and runs the farm in a private network
namespace (root, the sources, ``cc`` and ``unshare``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import SHARED

REFS = Path(os.environ.get("SWARMSCOPE_BENCH_REFS", SHARED / "bench"))

STUB_FARM_MARKS = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="the benchmark needs root for unshare -n"),
    pytest.mark.skipif(not (REFS / "stubfarm.c").is_file(), reason=f"stub farm sources not found at {REFS}"),
    pytest.mark.skipif(
        shutil.which("cc") is None or shutil.which("unshare") is None, reason="needs cc and unshare"
    ),
]
