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


def test_a_child_started_with_the_collector_off_runs_with_it_on_and_is_left_as_it_was() -> None:
    """child_main starts the writer and the probe processes with the collector off; collecting_less turns
    it on for the run and back off at its end (the state it found)."""
    gc.disable()
    try:
        with collecting_less():
            assert gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with collecting_less():
        assert gc.isenabled()
    assert gc.isenabled()
