"""A Uniswap pool's tokens against the chain's configured ones: which side is the base, and are decimals right.

Usage::

    token0 = check_token(chain, venue, address0, onchain_decimals)
    base, quote = base_quote(chain.name, venue, token0, token1)
"""

from __future__ import annotations

from adapters.types import ChainContext, TokenInfo
from crosshedge import AdapterError


def base_quote(chain: str, venue: str, t0: TokenInfo, t1: TokenInfo) -> tuple[TokenInfo, TokenInfo]:
    """(base, quote): quote is the token whose underlying is USD, base the other; anything else is an error."""
    usd = [t for t in (t0, t1) if t.underlying == "USD"]
    if len(usd) != 1:
        raise AdapterError(
            f"chain {chain}: venue {venue}: expected exactly one USD token in the pair, got {t0.symbol}/{t1.symbol}"
        )
    return (t1, t0) if usd[0] is t0 else (t0, t1)


def check_token(chain: ChainContext, venue: str, address: str, onchain_decimals: dict[str, int]) -> TokenInfo:
    """The configured token at ``address``, after checking its on-chain decimals(); AdapterError otherwise."""
    # A case-insensitive match (not ChainContext.token): checksumming is a keccak per call, on every read.
    wanted = address.lower()
    token = next((t for a, t in chain.tokens.items() if a.lower() == wanted), None)
    if token is None:
        raise AdapterError(
            f"chain {chain.name}: venue {venue}: pool token {address} is not among the chain's configured tokens"
        )
    got = onchain_decimals.get(token.address)
    if got != token.decimals:
        raise AdapterError(
            f"chain {chain.name}: venue {venue}: token {token.symbol} ({token.address}) has decimals() = {got} "
            f"on chain but {token.decimals} in the config"
        )
    return token


__all__ = ["base_quote", "check_token"]
