"""Pure (sans-IO) protocol layer: bencode, metainfo, magnet, trackers, peer wire.

Nothing here does I/O, reads clocks or draws randomness; callers pass ``now`` and random bytes in.
"""
