"""The console's read models: derived tables folded from sealed batches, and the monitor's live stats."""
