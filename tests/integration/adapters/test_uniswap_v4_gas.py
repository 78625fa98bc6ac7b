"""The uniswap_v4 adapter's gas figures against real UniversalRouter V4_SWAP swaps on the devnet: a small swap
crossing no initialized tick costs about SWAP_GAS, and each tick crossed adds about GAS_PER_TICK."""

from __future__ import annotations

import pytest

from adapters import Side, VenueState
from adapters.uniswap_v4 import GAS_PER_TICK, SWAP_GAS, UniswapV4Adapter, UniswapV4Config
from crosshedge import QuoteOutOfRangeError
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import at_new_head, v4_entries
from tests.integration.conftest import DevnetHandle
from tests.integration.devnet.test_uniswap_v4 import V4Pool, _approve_router, _deployment, _swap

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("chain_snapshot")
def test_v4_swap_gas_is_about_the_adapters_figure(devnet: DevnetHandle) -> None:
    adapter = UniswapV4Adapter()
    erc20_in: list[int] = []
    native_in: list[int] = []
    per_tick: list[float] = []
    for chain in devnet.chains():
        w3, v4 = devnet.w3(chain), _deployment(devnet, chain)
        trader = devnet.state["chains"][chain]["accounts"]["trader"]
        for symbol in ("USDC", "WBTC"):
            _approve_router(w3, v4, trader, devnet.config.chains[chain].tokens[symbol].address)
        ctx, entries = context(devnet.config, chain), v4_entries(devnet, chain)
        states = at_new_head(w3, lambda b: adapter.read(ctx, entries, b))  # noqa: B023
        for entry, state in zip(entries, states, strict=True):
            assert isinstance(entry.config, UniswapV4Config)
            key = entry.config.key
            pool = V4Pool(entry.name, key, bytes.fromhex(key.pool_id[2:]))
            for side in (Side.SELL, Side.BUY):
                zf1 = bool(state.pool["base_is_currency0"]) == (side is Side.SELL)
                amount = 10 ** (state.base.decimals - 4) if side is Side.SELL else 10 ** state.quote.decimals * 10
                quote = adapter.quote_swap(state, side, amount)
                assert quote.ticks_crossed == 0 and adapter.estimate_gas(state, side, amount) == SWAP_GAS
                receipt = _swap(w3, v4, trader, pool, zf1, amount, max(1, quote.amount_out * 99 // 100))
                assert receipt["status"] == 1
                base_gas = int(receipt["gasUsed"])
                (native_in if zf1 and key.has_native else erc20_in).append(base_gas)
                big = _crossing_amount(adapter, state, side)
                if big is not None:  # the same swap again, through several initialized ticks
                    crossed = adapter.quote_swap(state, side, big)
                    receipt = _swap(w3, v4, trader, pool, zf1, big, 1)
                    assert receipt["status"] == 1
                    per_tick.append((int(receipt["gasUsed"]) - base_gas) / crossed.ticks_crossed)
    print(f"V4 swap gas through UniversalRouter, no tick crossed: ERC20 in {min(erc20_in)}-{max(erc20_in)}, "
          f"native ETH in {min(native_in)}-{max(native_in)}; per tick crossed {min(per_tick):.0f}-{max(per_tick):.0f} "
          f"over {len(per_tick)} swaps")
    # SWAP_GAS prices the ERC20-in path (Permit2 pull), the dearer one; a native-in swap must not exceed it either.
    assert max(erc20_in) <= SWAP_GAS * 1.05 and min(erc20_in) >= SWAP_GAS * 0.6
    assert max(native_in) <= SWAP_GAS
    # Swaps run one after another here (the state moved), so this is the per-tick cost, not an exact figure.
    assert len(per_tick) >= 6 and GAS_PER_TICK * 0.5 <= sorted(per_tick)[len(per_tick) // 2] <= GAS_PER_TICK * 1.5


def _crossing_amount(adapter: UniswapV4Adapter, state: VenueState, side: Side) -> int | None:
    """An input that crosses 2-6 initialized ticks on ``state`` (None if the window has too few)."""
    amount: int = 10 ** (state.base.decimals - 3) if side is Side.SELL else 10 ** state.quote.decimals * 100
    for _ in range(40):
        try:
            crossed = adapter.quote_swap(state, side, amount).ticks_crossed
        except QuoteOutOfRangeError:
            return None
        if 2 <= crossed <= 6:
            return amount
        if crossed > 6:
            return None
        amount *= 2
    return None
