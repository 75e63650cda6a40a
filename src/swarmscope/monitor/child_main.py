"""Start a child process of the monitor: ``python -m swarmscope.monitor.child_main MODULE``.

MODULE is :mod:`swarmscope.monitor.writer_main` or :mod:`swarmscope.monitor.probe_main`; its ``main()``
runs with the cyclic garbage collector off from the first import on. Start-up (about 500 modules, the
store, the hello) allocates hundreds of thousands of objects that live as long as the process, and the
collector would traverse them again and again as they pile up (about 0.07 s of CPU per process start);
:func:`swarmscope.monitor.writer_process.collecting_less` then moves them to the permanent generation
(``gc.freeze``) and turns the collector on, at the thresholds every process of the monitor runs with.
Reference counting frees objects as always; only garbage in reference cycles made during start-up waits for
the first collection. The Python documentation of ``gc.freeze`` describes the same pattern (disable early,
freeze, enable). Evidence is unchanged.

An argument that is not one of the two modules: one line on stderr, exit status 1.
"""

from __future__ import annotations

import gc
import sys

WRITER = "swarmscope.monitor.writer_main"
PROBE = "swarmscope.monitor.probe_main"
CHILDREN = (WRITER, PROBE)


def main(argv: list[str]) -> int:
    """Run ``argv[1]``'s ``main()`` with the collector off until that process turns it on; its status."""
    if argv[1:] == [WRITER]:
        gc.disable()
        from swarmscope.monitor import writer_main

        return writer_main.main()
    if argv[1:] == [PROBE]:
        gc.disable()
        from swarmscope.monitor import probe_main

        return probe_main.main()
    print(f"error: child_main runs one of {', '.join(CHILDREN)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
