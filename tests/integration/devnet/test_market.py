"""The devnet's market driver (the arbitrageur stand-in) swaps every V2 and V3 pool to the target prices: V3 pools to
their price limit, V2 pairs onto the target reserves, the WBTC/WETH cross pool to the ratio; the adapters' reads then
see those venues' mids at the target. (It leaves V4 pools where they are: see the README's devnet section.)"""

from __future__ import annotations

import pytest

from adapters import VenueState, default_registry
from devnet import MarketDriver
from orchestrator import read_venues
from tests.integration.adapters.adapter_helpers import at_head, context
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration


def _venue_states(devnet: DevnetHandle, chain: str) -> list[VenueState]:
    ctx = context(devnet.config, chain)
    entries = devnet.config.venues_on(chain)
    return at_head(ctx, lambda at: read_venues(ctx, entries, default_registry(), at)[1])[1]


def test_the_market_driver_moves_every_v2_and_v3_pool_to_the_target(devnet: DevnetHandle,
                                                                         chain_snapshot: dict[str, str]) -> None:
    assert devnet.config.raw.devnet is not None
    base_fees = {n: c.base_fee_gwei for n, c in devnet.config.raw.devnet.chains.items()}
    driver = MarketDriver.from_state(devnet.state, base_fees)
    kinds = {p.kind for p in driver.pools}
    assert kinds == {"uniswap_v2", "uniswap_v3"}, kinds
    mids = [s for chain in devnet.chains() for s in _venue_states(devnet, chain)
            if not s.composite and s.adapter != "uniswap_v4"]
    # Every pool moves up, past the highest mid of its underlying (+3% for ETH, +2% for BTC): none is there yet.
    targets = {u: max(s.mid_price for s in mids if s.underlying == u) * bump for u, bump in (("ETH", 1.03),
                                                                                             ("BTC", 1.02))}
    sent = driver.move_to(targets)
    # One arbitrage per pool, and one per perp vAMM (3% is one piece: the driver splits only moves past 8%).
    assert sent == len(driver.pools) + len(driver.perps), (sent, len(driver.pools), len(driver.perps))
    # V3 pools stop on the target (their swap's price limit): nothing left to arbitrage there. A V2 pair lands near
    # it (the fee's share of the input is estimated) and its next pass goes the rest of the way.
    assert driver.move_to(targets) <= sum(p.kind == "uniswap_v2" for p in driver.pools)
    for chain in devnet.chains():
        states = _venue_states(devnet, chain)
        v4_pools = {p for s in states if s.adapter == "uniswap_v4" for p in s.pools}
        for s in states:
            if v4_pools & set(s.pools):  # a V4 venue, or a route through a V4 pool: not moved
                continue
            # Each venue's mid within a few bp of the target (a V3 swap stops on the limit, a V2 lands near it; a
            # route's mid is its legs' product, the cross pool on the ratio of the two targets).
            assert abs(s.mid_price / targets[s.underlying] - 1) < 5e-4, (chain, s.venue, s.mid_price)
