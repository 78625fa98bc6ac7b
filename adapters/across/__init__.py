"""The ``across`` transfer adapter: bridging a token between two chains' wallets through Across SpokePools.

Usage::

    from adapters.across import AcrossAdapter, AcrossConfig
    quote = AcrossAdapter().quote(route, amount_in=10**12)
"""

from adapters.across.adapter import DEPOSIT, AcrossAdapter, spoke_pool_of
from adapters.across.config import AcrossConfig
from adapters.across.events import relay_data, relay_hash

__all__ = ["DEPOSIT", "AcrossAdapter", "AcrossConfig", "relay_data", "relay_hash", "spoke_pool_of"]
