"""asyncio shells that move bytes: tracker clients, peer connections."""
