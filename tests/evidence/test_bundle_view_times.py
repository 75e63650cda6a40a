"""The bundle views of a nullable time field (``field(..., INT_N, time=True)``): a missing time renders as
a missing value (JSON null, an empty CSV cell) as every other missing value does, instead of breaking the
export and ``make golden``."""

from __future__ import annotations

from dataclasses import dataclass

from swarmscope.evidence.bundle.exhibits import _cell, iso, record_view
from swarmscope.evidence.declarations import INT_N
from swarmscope.evidence.record_spec import RecordSpec, field


@dataclass(frozen=True, slots=True)
class Download:
    started_us: int | None


SPEC = RecordSpec(Download, "download", (field("started_us", INT_N, "bigint", time=True),))


def test_a_missing_time_renders_as_a_missing_value() -> None:
    assert record_view(Download(None), SPEC) == {"started_us": None, "started": None}
    assert record_view(Download(1_700_000_000_000_000), SPEC) == {
        "started_us": 1_700_000_000_000_000,
        "started": "2023-11-14T22:13:20.000000Z",
    }
    assert _cell(iso(None)) == ""
    assert iso(2**63) == "out of range"
