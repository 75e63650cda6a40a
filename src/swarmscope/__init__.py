"""swarmscope: watch BitTorrent swarms and record verified evidence of distribution."""

__version__ = "0.1.0"
