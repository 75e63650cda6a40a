"""The legal workflow on top of evidence (issue 5)."""
