"""The pure probes: piece/block probe, its MSE wrapper, the BEP 9 metadata fetch."""
