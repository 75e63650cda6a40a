"""The monitor's processes tune CPython's cyclic collector while they run, and undo it afterwards."""

from __future__ import annotations

import gc
import weakref

from swarmscope.monitor.writer_process import GC_THRESHOLDS, collecting_less


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_thresholds_and_frozen_start_up_objects_hold_inside_and_are_undone_after() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with collecting_less():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > frozen  # what start-up loaded is out of every collection's walk
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # cyclic garbage made while the monitor runs is still collected
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
