"""Test datasets built once per session with mmdb-writer (see :mod:`swarmscope.testbed.mmdb`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.attribution.datasets import Fingerprint, fingerprint
from swarmscope.attribution.flag_lists import FLAG_KINDS
from swarmscope.testbed.mmdb import build_mmdb, build_test_datasets


@pytest.fixture(scope="session")
def dataset_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind → path: asn, city, hosting, vpn, tor (default set) plus isp and anonymous MMDBs."""
    directory = tmp_path_factory.mktemp("datasets")
    paths = build_test_datasets(directory)
    paths["isp"] = build_mmdb(directory / "GeoIP2-ISP.mmdb", "GeoIP2-ISP")
    paths["anonymous"] = build_mmdb(directory / "GeoIP2-Anonymous-IP.mmdb", "GeoIP2-Anonymous-IP")
    return paths


@pytest.fixture(scope="session")
def fingerprints(dataset_files: dict[str, Path]) -> dict[str, Fingerprint]:
    return {k: fingerprint(p, k if k in FLAG_KINDS else None) for k, p in dataset_files.items()}
