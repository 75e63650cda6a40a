"""Pure evidence model: records, tiers, observation building, piece verification."""
