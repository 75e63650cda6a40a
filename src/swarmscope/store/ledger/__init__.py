"""The sealed ledger: evidence tables, atomic commits, chain and seal reads, checks, export."""
