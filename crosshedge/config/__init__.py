"""Config models and loading of chains.yaml (filled in by the architecture issue)."""
