"""The legal workflow on top of evidence (README "The legal workflow")."""
