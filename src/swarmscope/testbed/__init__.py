"""Real-swarm testbed: real libtorrent peers, opentracker and aria2 on private loopback addresses.

Used by ``swarmscope demo`` and the end-to-end tests; see ``swarmscope.testbed.swarm.start_swarm``.
Nothing here is imported by the monitor itself.
"""
