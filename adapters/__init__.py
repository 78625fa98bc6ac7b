"""Venue and position-source plugins: the contract, the registry and the built-in adapters."""
