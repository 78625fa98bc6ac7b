"""Uniswap V4 on the devnet: the official contracts wired together, pools priced with the V3/V2 ones, V4Quoter
consistent with StateView, and UniversalRouter swaps (encoded by adapters.uniswap_v4) delivering the quoted amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from adapters.uniswap_v4 import (
    MAX_UINT48,
    MAX_UINT160,
    NATIVE,
    PERMIT2_ADDRESS,
    PoolKey,
    exact_in_single_plan,
    quote_exact_single,
    v4_swap,
)
from crosshedge.config import UniswapV4Deployment
from devnet import load_artifact
from tests.integration.conftest import DevnetHandle

pytestmark = pytest.mark.integration
CHAINS = ["ethereum", "arbitrum", "base"]
# Dev accounts pay far above any devnet base fee, so a test's transactions never wait on the fee market.
TX: dict[str, Any] = {"maxFeePerGas": 10**13, "maxPriorityFeePerGas": 10**9}


@dataclass(frozen=True)
class V4Pool:
    name: str
    key: PoolKey
    pool_id: bytes


def _contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def _deployment(devnet: DevnetHandle, chain: str) -> UniswapV4Deployment:
    section = devnet.config.chains[chain].uniswap_v4
    assert section is not None, f"{chain} has no uniswap_v4 section"
    return section


def _pools(devnet: DevnetHandle, chain: str) -> list[V4Pool]:
    out = []
    for name, p in _deployment(devnet, chain).pools.items():
        key = PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)
        out.append(V4Pool(name, key, bytes.fromhex(p.pool_id[2:])))
    return out


def _decimals(devnet: DevnetHandle, chain: str, currency: str) -> int:
    if int(currency, 16) == 0:
        return 18
    tokens = devnet.config.chains[chain].tokens.values()
    return next(t.decimals for t in tokens if t.address.lower() == currency.lower())


def _usd_price(devnet: DevnetHandle, chain: str, pool: V4Pool, sqrt_price_x96: int) -> float:
    """The base (currency0 for ETH pools, the non-USDC side otherwise) in USDC, from the pool's sqrt price."""
    raw = (sqrt_price_x96 / 2**96) ** 2  # currency1 per currency0, raw units
    d0, d1 = _decimals(devnet, chain, pool.key.currency0), _decimals(devnet, chain, pool.key.currency1)
    price0 = raw * 10 ** (d0 - d1)
    usdc = devnet.config.chains[chain].tokens["USDC"].address
    return float(1 / price0 if pool.key.currency0.lower() == usdc.lower() else price0)


@pytest.mark.parametrize("chain", CHAINS)
def test_v4_is_recorded_pinned_and_listed_as_venues_with_the_flag(devnet: DevnetHandle, chain: str) -> None:
    settings = devnet.config.chains[chain]
    v4 = _deployment(devnet, chain)
    w3 = devnet.w3(chain)
    assert v4.permit2 == PERMIT2_ADDRESS
    assert devnet.config.raw.devnet is not None
    listed = {name for name in settings.venues if name.startswith("v4_")}
    assert listed == (set(v4.pools) if devnet.config.raw.devnet.v4_venues else set())
    for address in (v4.pool_manager, v4.state_view, v4.v4_quoter, v4.position_manager, v4.universal_router,
                    v4.permit2):
        code = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
        assert settings.code_hashes[address] == "0x" + bytes(Web3.keccak(code)).hex()
    for pool in _pools(devnet, chain):
        assert "0x" + pool.pool_id.hex() == pool.key.pool_id  # the recorded id is the key's keccak
    pools = _pools(devnet, chain)
    assert sum(p.key.has_native for p in pools) >= 1 and sum(not p.key.has_native for p in pools) >= 1
    assert any(v.startswith("v3_") for v in settings.venues)  # the chain keeps its V3/V2 venues beside V4
    v3_fees = {int(v.rsplit("_", 1)[1]) for v in settings.venues if v.startswith("v3_")}
    assert not {p.key.fee for p in pools} & v3_fees, "V4 pools should use fee tiers the V3 pools lack"


@pytest.mark.parametrize("chain", CHAINS)
def test_v4_pools_hold_several_ranges_at_the_v3_price(devnet: DevnetHandle, chain: str) -> None:
    w3 = devnet.w3(chain)
    v4 = _deployment(devnet, chain)
    manager = _contract(w3, "PoolManager", v4.pool_manager)
    state_view = _contract(w3, "StateView", v4.state_view)
    events = manager.events.ModifyLiquidity().get_logs(from_block=0)
    venues = devnet.state["chains"][chain]["venues"]
    for pool in _pools(devnet, chain):
        ranges = {(e["args"]["tickLower"], e["args"]["tickUpper"]) for e in events if e["args"]["id"] == pool.pool_id}
        assert len(ranges) >= 5, f"{chain}/{pool.name} has only {len(ranges)} LP ranges"
        assert all(lo % pool.key.tick_spacing == 0 == hi % pool.key.tick_spacing for lo, hi in ranges)
        sqrt_p, _, _, lp_fee = state_view.functions.getSlot0(pool.pool_id).call()
        assert lp_fee == pool.key.fee and state_view.functions.getLiquidity(pool.pool_id).call() > 0
        v3_name = "v3_weth_usdc_500" if pool.key.has_native else next(v for v in venues if v.startswith("v3_wbtc"))
        v3_sqrt = _contract(w3, "UniswapV3Pool", venues[v3_name]["pool"]).functions.slot0().call()[0]
        v3_price = _usd_price_v3(devnet, chain, venues[v3_name]["pool"], v3_sqrt)
        v4_price = _usd_price(devnet, chain, pool, sqrt_p)
        assert abs(v4_price / v3_price - 1) < 0.002, (chain, pool.name, v4_price, v3_price)  # offsets of a few bps


def _usd_price_v3(devnet: DevnetHandle, chain: str, address: str, sqrt_price_x96: int) -> float:
    pool = _contract(devnet.w3(chain), "UniswapV3Pool", address)
    t0, t1 = pool.functions.token0().call(), pool.functions.token1().call()
    key = V4Pool("v3", PoolKey(t0, t1, 0, 1), b"")
    return _usd_price(devnet, chain, key, sqrt_price_x96)


def _amount_in(devnet: DevnetHandle, chain: str, pool: V4Pool, zero_for_one: bool, usd: float,
               price_usd: float) -> int:
    """About ``usd`` worth of the input currency, in raw units."""
    currency = pool.key.currency0 if zero_for_one else pool.key.currency1
    usdc = devnet.config.chains[chain].tokens["USDC"].address
    units = usd if currency.lower() == usdc.lower() else usd / price_usd
    return int(units * 10 ** _decimals(devnet, chain, currency))


@pytest.mark.parametrize("chain", CHAINS)
def test_v4_quoter_matches_the_pool_price_both_ways(devnet: DevnetHandle, chain: str) -> None:
    w3 = devnet.w3(chain)
    v4 = _deployment(devnet, chain)
    quoter = _contract(w3, "V4Quoter", v4.v4_quoter)
    state_view = _contract(w3, "StateView", v4.state_view)
    for pool in _pools(devnet, chain):
        sqrt_p = state_view.functions.getSlot0(pool.pool_id).call()[0]
        raw_price = (sqrt_p / 2**96) ** 2  # currency1 per currency0 in raw units
        usd = _usd_price(devnet, chain, pool, sqrt_p)
        for zero_for_one in (True, False):
            amount_in = _amount_in(devnet, chain, pool, zero_for_one, 500.0, usd)
            params = quote_exact_single(pool.key, zero_for_one, amount_in)
            out, gas = quoter.functions.quoteExactInputSingle(params).call()
            ideal = amount_in * (1 - pool.key.fee / 1e6) * (raw_price if zero_for_one else 1 / raw_price)
            # $500 moves even the thinnest (wide, $500k) pool by under 0.1%: the quote sits just under the net price.
            assert ideal * 0.999 < out <= ideal, (chain, pool.name, zero_for_one, out, ideal)
            assert gas > 0


def _approve_router(w3: Web3, v4: UniswapV4Deployment, owner: str, token: str) -> None:
    """The trader lets UniversalRouter pull ``token`` through Permit2: ERC20 approval, then Permit2's own."""
    erc20 = _contract(w3, "ERC20PresetMinterPauser", token)
    permit2 = _contract(w3, "IAllowanceTransfer", PERMIT2_ADDRESS)
    for call in (erc20.functions.approve(PERMIT2_ADDRESS, 2**256 - 1),
                 permit2.functions.approve(token, v4.universal_router, MAX_UINT160, MAX_UINT48)):
        params: Any = {"from": owner, "gas": 200_000, **TX}  # TxParams is a TypedDict web3 checks
        receipt = w3.eth.wait_for_transaction_receipt(call.transact(params))
        assert receipt["status"] == 1


def _balance(w3: Web3, currency: str, owner: str) -> int:
    if int(currency, 16) == 0:
        return int(w3.eth.get_balance(Web3.to_checksum_address(owner)))
    return int(_contract(w3, "ERC20PresetMinterPauser", currency).functions.balanceOf(owner).call())


def _swap(w3: Web3, v4: UniswapV4Deployment, trader: str, pool: V4Pool, zero_for_one: bool, amount_in: int,
          min_out: int) -> Any:
    router = _contract(w3, "UniversalRouter", v4.universal_router)
    commands, inputs = v4_swap(exact_in_single_plan(pool.key, zero_for_one, amount_in, min_out))
    value = amount_in if zero_for_one and pool.key.has_native else 0  # native ETH in is paid as the call's value
    deadline = w3.eth.get_block("latest")["timestamp"] + 600
    call = router.functions.execute(commands, inputs, deadline)
    params: Any = {"from": trader, "gas": 1_000_000, "value": value, **TX}
    return w3.eth.wait_for_transaction_receipt(call.transact(params))


def _swap_delivers_the_quote(devnet: DevnetHandle, chain: str, pool: V4Pool, zero_for_one: bool) -> None:
    """One exact-in UniversalRouter swap worth $25k: the trader pays exactly the input and receives exactly what
    V4Quoter quoted, and PoolManager's Swap event shows the same deltas."""
    w3 = devnet.w3(chain)
    v4 = _deployment(devnet, chain)
    trader = devnet.state["chains"][chain]["accounts"]["trader"]
    quoter = _contract(w3, "V4Quoter", v4.v4_quoter)
    usd = _usd_price(devnet, chain, pool, _contract(w3, "StateView", v4.state_view).functions.getSlot0(
        pool.pool_id).call()[0])
    amount_in = _amount_in(devnet, chain, pool, zero_for_one, 25_000.0, usd)
    quoted = quoter.functions.quoteExactInputSingle(quote_exact_single(pool.key, zero_for_one, amount_in)).call()[0]
    c_in, c_out = pool.key.currency0, pool.key.currency1
    if not zero_for_one:
        c_in, c_out = c_out, c_in
    before_in, before_out = _balance(w3, c_in, trader), _balance(w3, c_out, trader)
    receipt = _swap(w3, v4, trader, pool, zero_for_one, amount_in, quoted)
    assert receipt["status"] == 1, (chain, pool.name, zero_for_one)
    gas_paid = receipt["gasUsed"] * receipt["effectiveGasPrice"]  # native ETH balances also pay the gas
    assert before_in - _balance(w3, c_in, trader) - (gas_paid if c_in == NATIVE else 0) == amount_in
    got = _balance(w3, c_out, trader) + (gas_paid if c_out == NATIVE else 0) - before_out
    assert got == quoted, (chain, pool.name, zero_for_one, got, quoted)
    (swap,) = _contract(w3, "PoolManager", v4.pool_manager).events.Swap().process_receipt(receipt, errors=DISCARD)
    assert swap["args"]["id"] == pool.pool_id and swap["args"]["sender"] == v4.universal_router
    # The swapper's side of the balance delta: what it paid is negative, what it took positive.
    a0, a1 = swap["args"]["amount0"], swap["args"]["amount1"]
    assert ((a0, a1) if zero_for_one else (a1, a0)) == (-amount_in, quoted)


@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.usefixtures("chain_snapshot")
def test_universal_router_swap_delivers_the_quote(devnet: DevnetHandle, chain: str) -> None:
    w3 = devnet.w3(chain)
    v4 = _deployment(devnet, chain)
    trader = devnet.state["chains"][chain]["accounts"]["trader"]
    for symbol in ("USDC", "WBTC"):
        _approve_router(w3, v4, trader, devnet.config.chains[chain].tokens[symbol].address)
    for pool in _pools(devnet, chain):
        for zero_for_one in (True, False):
            _swap_delivers_the_quote(devnet, chain, pool, zero_for_one)
