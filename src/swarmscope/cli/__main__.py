"""``python -m swarmscope.cli`` runs the command line (same as the ``swarmscope`` script)."""

from swarmscope.cli import main

main()
