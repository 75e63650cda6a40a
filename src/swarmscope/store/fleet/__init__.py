"""The fleet's tables: monitor nodes, registered swarms, their leases with fencing tokens, batch fences."""
