"""Export bundles: layout, human-readable views, methodology, and the offline verifier."""
