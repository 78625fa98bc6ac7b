"""A dynamic-fee V4 pool on the devnet, exercised for real: its hooks address has no permission bits (so PoolManager
calls no hook, and the pool is modelled exactly), the "hook" (impersonated) sets an LP fee slot0 shows and the key
does not, a protocol fee is set on top, and the adapter's quotes equal V4Quoter's to the wei both ways."""

from __future__ import annotations

import math
import random

import pytest
from web3 import Web3
from web3.types import RPCEndpoint, Wei

from adapters import Side, VenueEntry
from adapters.uniswap import get_sqrt_ratio_at_tick
from adapters.uniswap_v4 import (
    DYNAMIC_FEE_FLAG,
    MAX_UINT48,
    MAX_UINT128,
    MAX_UINT160,
    PERMIT2_ADDRESS,
    Action,
    PoolKey,
    UniswapV4Adapter,
    UniswapV4Config,
    encode_actions,
    mint_position,
    settle_pair,
    sorted_currencies,
    swap_fee,
)
from adapters.uniswap_v4.model import model_of
from tests.integration.adapters.adapter_helpers import context
from tests.integration.adapters.v4_helpers import at_new_head, contract, quoter_out, set_protocol_fee, v4_entries
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration
HOOKS = Web3.to_checksum_address("0x" + "00" * 17 + "0c0000")  # low 14 bits zero: no hook is ever called
LP_FEE = 4321  # not the key's fee (the flag): only slot0 knows it
PROTOCOL_FEE = (300 << 12) | 700


def _send(w3: Web3, fn: object, sender: str) -> None:
    tx = fn.transact({"from": sender, "gas": 3_000_000, "maxFeePerGas": Wei(10**13),  # type: ignore[attr-defined]
                      "maxPriorityFeePerGas": Wei(10**9)})
    assert w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1


def _dynamic_pool(devnet: DevnetHandle, chain: str) -> tuple[VenueEntry, int]:
    """A WBTC/USDC dynamic-fee pool at the chain's V4 WBTC price with three positions; (venue entry, price tick)."""
    w3, settings = devnet.w3(chain), devnet.config.chains[chain]
    v4 = settings.uniswap_v4
    assert v4 is not None
    template = next(e for e in v4_entries(devnet, chain) if "wbtc" in e.name)
    assert isinstance(template.config, UniswapV4Config)
    c0, c1 = sorted_currencies(settings.tokens["WBTC"].address, settings.tokens["USDC"].address)
    key = PoolKey(c0, c1, DYNAMIC_FEE_FLAG, 60, HOOKS)
    pm = contract(w3, "PoolManager", v4.pool_manager)
    sqrt_price = contract(w3, "StateView", v4.state_view).functions.getSlot0(
        bytes.fromhex(template.config.key.pool_id[2:])).call()[0]
    trader = devnet.state["chains"][chain]["accounts"]["trader"]
    _send(w3, pm.functions.initialize(key.as_tuple(), sqrt_price), trader)
    w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [HOOKS])
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [HOOKS, hex(10**20)])
    _send(w3, pm.functions.updateDynamicLPFee(key.as_tuple(), LP_FEE), HOOKS)
    permit2 = contract(w3, "IAllowanceTransfer", PERMIT2_ADDRESS)
    for token in (c0, c1):
        _send(w3, contract(w3, "ERC20PresetMinterPauser", token).functions.approve(PERMIT2_ADDRESS, 2**256 - 1),
              trader)
        _send(w3, permit2.functions.approve(token, v4.position_manager, MAX_UINT160, MAX_UINT48), trader)
    tick = math.floor(math.log((sqrt_price / 2**96) ** 2, 1.0001))
    centre = tick // 60 * 60
    steps = [(Action.MINT_POSITION, mint_position(key, centre - w, centre + w, liq, MAX_UINT128, MAX_UINT128, trader))
             for w, liq in ((600, 3 * 10**10), (1800, 10**10), (6000, 5 * 10**9))]
    plan = encode_actions([*steps, (Action.SETTLE_PAIR, settle_pair(c0, c1))])
    _send(w3, contract(w3, "PositionManager", v4.position_manager).functions.modifyLiquidities(plan, 2**40), trader)
    config = template.config.model_copy(update={"currency0": c0, "currency1": c1, "fee": DYNAMIC_FEE_FLAG,
                                                "tick_spacing": 60, "hooks": HOOKS, "weth": None})
    return VenueEntry("v4_wbtc_usdc_dynamic", chain, "uniswap_v4", UniswapV4Config.model_validate(
        config.model_dump())), tick


@pytest.mark.usefixtures("chain_snapshot")
def test_dynamic_fee_pool_quotes_equal_v4_quoter(devnet: DevnetHandle) -> None:
    chain, adapter, rng = "base", UniswapV4Adapter(), random.Random(99)
    entry, _ = _dynamic_pool(devnet, chain)
    assert isinstance(entry.config, UniswapV4Config)
    w3, ctx = devnet.w3(chain), context(devnet.config, chain)
    set_protocol_fee(w3, entry.config, PROTOCOL_FEE)
    assert "exact: hooks" in entry.config.policy.reason and "no permissions" in entry.config.policy.reason
    [state] = at_new_head(w3, lambda b: adapter.read(ctx, [entry], b))
    p = state.pool
    assert (p["lp_fee"], p["protocol_fee"], p["dynamic_fee"], p["pool_key"]["fee"]) == (
        LP_FEE, PROTOCOL_FEE, True, DYNAMIC_FEE_FLAG)
    assert p["swap_fee"] == {"zero_for_one": swap_fee(LP_FEE, PROTOCOL_FEE, True),
                             "one_for_zero": swap_fee(LP_FEE, PROTOCOL_FEE, False)}
    assert len(p["ticks"]) == 6
    cases = crossed = 0
    for side in (Side.SELL, Side.BUY):
        zf1 = bool(p["base_is_currency0"]) == (side is Side.SELL)
        limit = get_sqrt_ratio_at_tick(p["tick"] - 2500 if zf1 else p["tick"] + 2500)  # past the inner two ranges
        top = model_of(state).direction(zf1).swap_exact_in(zf1, 1 << 200, limit).amount_in
        for i in range(15):
            # log-uniform from 1 wei, and every third case in the top decade, past the inner ranges' ticks
            amount = max(1, int(10 ** rng.uniform(math.log10(top) - 1 if i % 3 == 0 else 0, math.log10(top))))
            ours = adapter.quote_swap(state, side, amount)
            if ours.partial:
                continue
            assert ours.amount_out == quoter_out(w3, entry.config, zf1, amount, state.block_number), (side, amount)
            cases += 1
            crossed += ours.ticks_crossed > 0
    assert cases >= 20 and crossed >= 2, (cases, crossed)
