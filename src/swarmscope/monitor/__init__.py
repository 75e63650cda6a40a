"""Orchestration: discover peers, probe them, store what was observed."""
