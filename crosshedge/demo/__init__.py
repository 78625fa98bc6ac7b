"""The demo: the whole system live on a devnet along a real price path."""
