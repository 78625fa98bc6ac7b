"""Uniswap V4 on one devnet chain: the official PoolManager, StateView, V4Quoter, PositionManager and UniversalRouter
bytecode from npm, Permit2 etched at its canonical address, and hookless pools with several LP ranges each.

V4 needs transient storage (EIP-1153), so anvil must run Cancun or later (anvil's default, ``latest``, is).
Native ETH pools hold ether itself (currency0 = address(0)); LP positions are minted through PositionManager in one
``modifyLiquidities`` per pool (MINT_POSITION per range, SETTLE_PAIR, and SWEEP returning unused ether).

Usage::

    section = deploy_v4(d, c, spec, prices)   # after deploy_core and the LP's funding (v4_lp_needs)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from web3 import Web3
from web3.contract import Contract

from devnet.anvil import anvil_rpc
from devnet.artifacts import load_artifact, permit2_runtime
from devnet.deployer import MAX_UINT, TOKENS, ChainDeployer, DeployError, runtime_code_hashes
from devnet.liquidity import PairLayout, plan_positions, sqrt_price_x96

# The devnet may not import adapters (the layering in tests/unit/test_architecture.py), so it keeps the few V4
# encodings it needs to seed pools; tests/unit/devnet/test_v4_plan.py holds them equal to adapters.uniswap_v4's.
NATIVE = "0x0000000000000000000000000000000000000000"
PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
MAX_UINT160, MAX_UINT48 = 2**160 - 1, 2**48 - 1
MINT_POSITION, SETTLE_PAIR, SWEEP = 0x02, 0x0D, 0x14  # v4-periphery Actions
_POOL_KEY = "(address,address,uint24,int24,address)"

#: PositionManager's gas cap for a subscriber's notifyUnsubscribe (v4-periphery's deploy scripts use 300k).
UNSUBSCRIBE_GAS_LIMIT = 300_000
#: Gas per MINT_POSITION in a plan: ticks, position and NFT storage, with headroom.
MINT_GAS = 450_000
_SYMBOL_DECIMALS = {"ETH": 18, **{s: d for s, (_, d, _) in TOKENS.items()}}
_UNDERLYING = {"ETH": "ETH", **{s: u for s, (_, _, u) in TOKENS.items()}}


@dataclass(frozen=True)
class V4Contracts:
    pool_manager: Contract
    state_view: Contract
    v4_quoter: Contract
    position_manager: Contract
    universal_router: Contract
    permit2: Contract

    def addresses(self) -> dict[str, str]:
        return {name: str(getattr(self, name).address) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class PoolKey:
    """A hookless V4 pool key (currencies sorted), as PoolManager.initialize and MINT_POSITION take it."""

    currency0: str
    currency1: str
    fee: int
    tick_spacing: int
    hooks: str = NATIVE

    def as_tuple(self) -> tuple[str, str, int, int, str]:
        return (Web3.to_checksum_address(self.currency0), Web3.to_checksum_address(self.currency1), self.fee,
                self.tick_spacing, Web3.to_checksum_address(self.hooks))

    @property
    def pool_id(self) -> str:
        """keccak256(abi.encode(PoolKey)), 0x-prefixed: the id PoolManager and StateView know the pool by."""
        return "0x" + bytes(Web3.keccak(encode([_POOL_KEY], [self.as_tuple()]))).hex()

    @property
    def has_native(self) -> bool:
        return int(self.currency0, 16) == 0


def mint_plan(key: PoolKey, mints: list[tuple[int, int, int, int, int]], owner: str) -> bytes:
    """PositionManager.modifyLiquidities' plan: MINT_POSITION per (tickLower, tickUpper, liquidity, amount0Max,
    amount1Max) owned by ``owner``, SETTLE_PAIR, and for a native pool SWEEP of the unused ether back to ``owner``."""
    owner = Web3.to_checksum_address(owner)
    params = [encode([_POOL_KEY, "int24", "int24", "uint256", "uint128", "uint128", "address", "bytes"],
                     [key.as_tuple(), *mint, owner, b""]) for mint in mints]
    actions = [MINT_POSITION] * len(mints) + [SETTLE_PAIR]
    params.append(encode(["address", "address"], list(key.as_tuple()[:2])))
    if key.has_native:
        actions.append(SWEEP)
        params.append(encode(["address", "address"], [NATIVE, owner]))
    return encode(["bytes", "bytes[]"], [bytes(actions), params])


def v4_pool_name(pool: Any) -> str:
    return f"v4_{pool.base.lower()}_{pool.quote.lower()}_{pool.fee}"


def _currency(c: dict[str, Contract], symbol: str) -> str:
    return NATIVE if symbol == "ETH" else str(c[symbol].address)


def _init_code_hash(name: str) -> bytes:
    """keccak256 of a pool's creation code: what routers use to derive V2 pair / V3 pool addresses (CREATE2)."""
    return bytes(Web3.keccak(hexstr=load_artifact(name).bytecode))


def deploy_v4_core(d: ChainDeployer, c: dict[str, Contract]) -> V4Contracts:
    """Permit2 (etched), PoolManager, StateView, V4Quoter, PositionManager and UniversalRouter, wired together."""
    anvil_rpc(d.w3, "anvil_setCode", PERMIT2_ADDRESS, permit2_runtime())
    permit2 = d.at("IAllowanceTransfer", PERMIT2_ADDRESS)
    pool_manager = d.deploy("PoolManager", d.deployer, record=False)
    pm = pool_manager.address
    state_view = d.deploy("StateView", pm, record=False)
    quoter = d.deploy("V4Quoter", pm, record=False)
    weth = c["WETH"].address
    # No token descriptor: it only renders tokenURI metadata, as with the V3 position manager here.
    position_manager = d.deploy("PositionManager", pm, PERMIT2_ADDRESS, UNSUBSCRIBE_GAS_LIMIT, NATIVE, weth,
                                record=False)
    params = (PERMIT2_ADDRESS, weth, c["v2_factory"].address, c["v3_factory"].address,
              _init_code_hash("UniswapV2Pair"), _init_code_hash("UniswapV3Pool"), pm,
              c["position_manager"].address, position_manager.address,
              NATIVE)  # no Across SpokePool on the devnet (its bridge commands are unused)
    router = d.deploy("UniversalRouter", params, record=False)
    return V4Contracts(pool_manager, state_view, quoter, position_manager, router, permit2)


def approve_via_permit2(d: ChainDeployer, c: dict[str, Contract], v4: V4Contracts, owner: str, spender: str,
                        symbols: set[str]) -> None:
    """Let ``spender`` pull ``owner``'s tokens ``symbols`` through Permit2 (ERC20 approval, then Permit2's)."""
    for symbol in sorted(symbols):
        token = c[symbol].address
        d.send(c[symbol].functions.approve(PERMIT2_ADDRESS, MAX_UINT), owner, gas=100_000)
        d.send(v4.permit2.functions.approve(token, spender, MAX_UINT160, MAX_UINT48), owner, gas=100_000)


def _usd_price(prices: dict[str, float], pool: Any) -> float:
    return float(prices[_UNDERLYING[pool.base]]) * (1 + float(pool.price_offset_bps) / 1e4)


def pool_key_of(c: dict[str, Contract], pool: Any) -> PoolKey:
    a, b = _currency(c, pool.base), _currency(c, pool.quote)
    currency0, currency1 = (a, b) if int(a, 16) < int(b, 16) else (b, a)
    return PoolKey(currency0, currency1, pool.fee, pool.tick_spacing)


def liquidity_for_amounts(raw_price: float, tick_lower: int, tick_upper: int, amount0: int, amount1: int) -> int:
    """The liquidity both amounts pay for on the range (LiquidityAmounts.getLiquidityForAmounts in floating point,
    shaved by 1e-9 so the exact cost the position manager rounds up never exceeds the amounts)."""
    sa, sb, sp = math.sqrt(1.0001**tick_lower), math.sqrt(1.0001**tick_upper), math.sqrt(raw_price)
    from0 = amount0 * sa * sb / (sb - sa) if sp <= sa else amount0 * sp * sb / (sb - sp)
    from1 = amount1 / (sb - sa) if sp >= sb else amount1 / (sp - sa)
    liquidity = from0 if sp <= sa else from1 if sp >= sb else min(from0, from1)
    return int(liquidity * (1 - 1e-9))


def _headroom(amount: int) -> int:
    """The most a mint may take: the plan's amount plus rounding room (only what the liquidity costs is paid)."""
    return amount + amount // 1000 + 10


def create_v4_pool(d: ChainDeployer, c: dict[str, Contract], v4: V4Contracts, pool: Any,
                   prices: dict[str, float], seed: int) -> PoolKey:
    """Initialise a hookless V4 pool at its USD price and mint its LP ranges (owned by the LP account)."""
    key = pool_key_of(c, pool)
    base_is_token0 = int(_currency(c, pool.base), 16) == int(key.currency0, 16)
    layout = PairLayout(base_is_token0, _SYMBOL_DECIMALS[pool.base], _SYMBOL_DECIMALS[pool.quote])
    usd = _usd_price(prices, pool)
    raw = layout.raw_price(usd)
    sqrt_p = sqrt_price_x96(raw)
    d.send(v4.pool_manager.functions.initialize(key.as_tuple(), sqrt_p), d.deployer, gas=500_000)
    plans = plan_positions(pool.shape, pool.positions, raw, pool.fee, pool.depth_usd,
                           layout.usd_per_raw_token1(usd), seed, spacing=pool.tick_spacing)
    mints = [(p.tick_lower, p.tick_upper, liquidity_for_amounts(raw, p.tick_lower, p.tick_upper, p.amount0, p.amount1),
              _headroom(p.amount0), _headroom(p.amount1)) for p in plans]
    # Native ether is paid as the call's value; what the positions do not cost is swept back to the LP.
    native_value = sum(m[3] for m in mints) if key.has_native else 0
    call = v4.position_manager.functions.modifyLiquidities(mint_plan(key, mints, d.lp), 2**40)
    d.send(call, d.lp, gas=MINT_GAS * len(plans) + 500_000, value=native_value)
    liquidity_now = v4.state_view.functions.getLiquidity(bytes.fromhex(key.pool_id[2:])).call()
    if liquidity_now == 0:
        raise DeployError(f"devnet {d.chain}: V4 pool {v4_pool_name(pool)} has no in-range liquidity after minting")
    return key


def v4_lp_needs(spec: Any, prices: dict[str, float]) -> dict[str, int]:
    """Raw amounts of each ERC20 the LP account needs for the chain's V4 pools (ether it already holds)."""
    needs = dict.fromkeys(TOKENS, 0)
    for pool in spec.v4_pools:
        usd = _usd_price(prices, pool)
        if pool.base != "ETH":  # a position can be single-sided: budget the whole depth on each side, twice over
            needs[pool.base] += round(2 * pool.depth_usd / usd * 10 ** _SYMBOL_DECIMALS[pool.base])
        needs[pool.quote] += round(2 * pool.depth_usd * 10 ** _SYMBOL_DECIMALS[pool.quote])
    return needs


def deploy_v4(d: ChainDeployer, c: dict[str, Contract], spec: Any, prices: dict[str, float]) -> dict[str, Any]:
    """The chain's V4 deployment and pools; returns its ``uniswap_v4`` section plus their ``code_hashes``."""
    v4 = deploy_v4_core(d, c)
    # Only the ERC20s the V4 pools hold (ETH pools take ether as value): two transactions per token.
    tokens = {s for p in spec.v4_pools for s in (p.base, p.quote) if s in TOKENS}
    approve_via_permit2(d, c, v4, d.lp, v4.position_manager.address, tokens)
    pools: dict[str, dict[str, Any]] = {}
    seed = sum(map(ord, d.chain)) + 1000  # not the V3 pools' seeds: their ranges differ too
    for index, pool in enumerate(spec.v4_pools):
        key = create_v4_pool(d, c, v4, pool, prices, seed + index)
        pools[v4_pool_name(pool)] = {
            "currency0": Web3.to_checksum_address(key.currency0), "currency1": Web3.to_checksum_address(key.currency1),
            "fee": key.fee, "tick_spacing": key.tick_spacing, "hooks": Web3.to_checksum_address(key.hooks),
            "pool_id": key.pool_id,
        }
    addresses = v4.addresses()
    return {"section": {**addresses, "pools": pools},
            "code_hashes": runtime_code_hashes(d, addresses.values())}


def v4_leg_sections(section: Mapping[str, Any], specs: Any) -> dict[str, dict[str, Any]]:
    """The chain's V4 pools of two ERC20s as route legs (``uniswap_route`` leg sections) by devnet pool name, each
    with its token ``symbols`` (base, quote) for the route's name; ether pools are no route leg."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name = v4_pool_name(spec)
        p = section["pools"][name]
        if int(p["currency0"], 16) == 0:
            continue
        out[name] = {"kind": "uniswap_v4", "pool_manager": section["pool_manager"],
                     "state_view": section["state_view"],
                     **{k: p[k] for k in ("currency0", "currency1", "fee", "tick_spacing", "hooks")},
                     "symbols": (spec.base, spec.quote)}
    return out


def v4_venue_sections(section: Mapping[str, Any], weth: str, window_ticks: int = 4000) -> dict[str, dict[str, Any]]:
    """The chain's V4 pools as ``uniswap_v4`` venue sections (chains.yaml ``venues``), from its ``uniswap_v4``
    deployment section; ``weth`` is the wallet's token for native ETH. Written only with ``devnet.v4_venues``."""
    contracts = {k: section[k] for k in ("pool_manager", "state_view", "universal_router", "permit2")}
    return {
        name: {"adapter": "uniswap_v4", **contracts, "v4_quoter": section["v4_quoter"],
               **{k: p[k] for k in ("currency0", "currency1", "fee", "tick_spacing", "hooks")},
               **({"weth": Web3.to_checksum_address(weth)} if int(p["currency0"], 16) == 0 else {}),
               "window_ticks": window_ticks}
        for name, p in section["pools"].items()
    }
