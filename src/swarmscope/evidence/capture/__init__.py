"""Wire captures of probes: format, decoding, and replay to the exact Observation."""
