"""``python -m swarmscope``: the same command line as the ``swarmscope`` script (pyproject's entry point)."""

from swarmscope.cli import main

main()
