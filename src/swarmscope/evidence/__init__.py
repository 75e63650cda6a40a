"""Pure evidence model (docs/architecture.md): the core (records, declarations, canonical bytes, chain,
seal, clock policy, summary) and its rooms probe/, capture/, timestamp/, bundle/."""
