"""Deploy one devnet chain: the official Uniswap V3/V2, WETH9 and ERC20 bytecode, pools with realistic liquidity.

Runs against a fresh anvil whose dev accounts are unlocked, so deployment sends ``eth_sendTransaction`` from those
accounts and signs nothing locally. Account roles: 0 deploys (and administers Across's SpokePool), 1 provides
liquidity, 2 is a trader (tests and the market driver move prices with it), 4 is the Across relayer
(devnet.relayer fills from it; 3 is the sandwich searcher's). The operator wallet crosshedge trades with is funded
but holds its own key.

Usage::

    state = deploy_chain(w3, "ethereum", spec.chains["ethereum"], spec.prices, operator="0x...")
"""

from __future__ import annotations

import time
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from devnet.across import RELAYER_ACCOUNT_INDEX, deploy_across
from devnet.anvil import anvil_rpc
from devnet.deployer import MAX_UINT, TOKENS, ChainDeployer, DeployError, runtime_code_hashes
from devnet.liquidity import (
    TICK_SPACING,
    PairLayout,
    align_down,
    align_up,
    amounts_for_budget,
    plan_positions,
    sqrt_price_x96,
    tick_at,
)
from devnet.perp import MARKET_WARMUP_S, deploy_perp, deposit_collateral, perp_market_name
from devnet.v4 import deploy_v4, v4_leg_sections, v4_lp_needs


def _set_decimals(d: ChainDeployer, token: Contract, decimals: int) -> None:
    """OpenZeppelin 3.x presets fix 18 decimals; on the devnet we patch the storage slot that holds them.

    The slot is found by reading, not assumed, and the result is checked through decimals() itself.
    """
    if decimals == 18:
        return
    for slot in range(16):
        word = int.from_bytes(d.w3.eth.get_storage_at(token.address, slot), "big")
        if word & 0xFF == 18 and word >> 16 == 0:
            new = (word & ~0xFF) | decimals
            anvil_rpc(d.w3, "anvil_setStorageAt", token.address, hex(slot), "0x" + new.to_bytes(32, "big").hex())
            if token.functions.decimals().call() == decimals:
                return
            anvil_rpc(d.w3, "anvil_setStorageAt", token.address, hex(slot), "0x" + word.to_bytes(32, "big").hex())
    raise DeployError(f"devnet {d.chain}: could not set decimals={decimals} on {token.address}")


def deploy_core(d: ChainDeployer) -> dict[str, Contract]:
    """WETH9, tokens, Uniswap V3 (factory, router, quoter, position manager), V2 (factory, router), multicall."""
    c: dict[str, Contract] = {"WETH": d.deploy("WETH9", key="weth")}
    for symbol, (name, decimals, _) in TOKENS.items():
        if symbol != "WETH":
            c[symbol] = d.deploy("ERC20PresetMinterPauser", name, symbol, key=symbol.lower())
            _set_decimals(d, c[symbol], decimals)
    c["v3_factory"] = d.deploy("UniswapV3Factory", key="v3_factory")
    d.send(c["v3_factory"].functions.enableFeeAmount(100, 1), d.deployer)  # the 1 bp tier, as governance did
    weth = c["WETH"].address
    c["swap_router"] = d.deploy("SwapRouter", c["v3_factory"].address, weth, key="swap_router")
    c["quoter_v2"] = d.deploy("QuoterV2", c["v3_factory"].address, weth, key="quoter_v2")
    # The token descriptor only renders NFT metadata (tokenURI); positions work without it.
    c["position_manager"] = d.deploy(
        "NonfungiblePositionManager", c["v3_factory"].address, weth, "0x" + "00" * 20, key="position_manager"
    )
    c["multicall"] = d.deploy("UniswapInterfaceMulticall", key="multicall")
    c["v2_factory"] = d.deploy("UniswapV2Factory", d.deployer, key="v2_factory")
    c["v2_router"] = d.deploy("UniswapV2Router02", c["v2_factory"].address, weth, key="v2_router")
    return c


def fund(d: ChainDeployer, c: dict[str, Contract], holder: str, symbol: str, amount_raw: int) -> None:
    """Give ``holder`` ``amount_raw`` of a token: WETH by wrapping the LP's ether, others by minting."""
    if amount_raw <= 0:
        return
    if symbol == "WETH":
        d.send(c["WETH"].functions.deposit(), d.lp, gas=100_000, value=amount_raw)
        if holder != d.lp:
            d.send(c["WETH"].functions.transfer(holder, amount_raw), d.lp, gas=100_000)
    else:
        d.send(c[symbol].functions.mint(holder, amount_raw), d.deployer, gas=150_000)


def to_raw(symbol: str, amount: float) -> int:
    scale: int = 10 ** TOKENS[symbol][1]
    return round(amount * scale)


def pool_layout(c: dict[str, Contract], base: str, quote: str) -> PairLayout:
    base_addr, quote_addr = int(c[base].address, 16), int(c[quote].address, 16)
    return PairLayout(base_addr < quote_addr, TOKENS[base][1], TOKENS[quote][1])


def sorted_pair(c: dict[str, Contract], base: str, quote: str) -> tuple[str, str]:
    a, b = c[base].address, c[quote].address
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def approve_all(d: ChainDeployer, c: dict[str, Contract], owner: str, spenders: list[str]) -> None:
    for symbol in TOKENS:
        for spender in spenders:
            d.send(c[symbol].functions.approve(spender, MAX_UINT), owner, gas=100_000)


def price_of(prices: dict[str, float], base: str, offset_bps: float) -> float:
    return prices[TOKENS[base][2]] * (1 + offset_bps / 1e4)


def usd_of(prices: dict[str, float], symbol: str) -> float:
    """USD per unit of ``symbol``: 1 for a USD token, else its underlying's reference price."""
    underlying = TOKENS[symbol][2]
    return 1.0 if underlying == "USD" else float(prices[underlying])


def pair_price(prices: dict[str, float], pool: Any) -> float:
    """Quote per base of a pool in human units (a cross pool such as WBTC/WETH quotes in WETH, not USD)."""
    return price_of(prices, pool.base, pool.price_offset_bps) / usd_of(prices, pool.quote)


def create_v3_pool(
    d: ChainDeployer,
    c: dict[str, Contract],
    pool: Any,
    prices: dict[str, float],
    seed: int,
) -> str:
    """Create and initialise a V3 pool, then mint its LP positions (owned by the LP account); returns its address."""
    layout = pool_layout(c, pool.base, pool.quote)
    price = pair_price(prices, pool)
    raw = layout.raw_price(price)
    # USD per raw token1 (PairLayout assumes a USD quote; a WETH quote is worth its ETH price per unit).
    usd_per_t1 = layout.usd_per_raw_token1(price) * usd_of(prices, pool.quote)
    t0, t1 = sorted_pair(c, pool.base, pool.quote)
    d.send(c["v3_factory"].functions.createPool(t0, t1, pool.fee), d.deployer, gas=6_000_000)
    address = c["v3_factory"].functions.getPool(t0, t1, pool.fee).call()
    pool_contract = d.at("UniswapV3Pool", address)
    d.send(pool_contract.functions.initialize(sqrt_price_x96(raw)), d.deployer, gas=200_000)
    plans = plan_positions(pool.shape, pool.positions, raw, pool.fee, pool.depth_usd, usd_per_t1, seed)
    for plan in plans:
        params = (t0, t1, pool.fee, plan.tick_lower, plan.tick_upper, plan.amount0, plan.amount1, 0, 0, d.lp, 2**40)
        d.send(c["position_manager"].functions.mint(params), d.lp, gas=1_000_000)
    return str(address)


def create_v2_pair(d: ChainDeployer, c: dict[str, Contract], pool: Any, prices: dict[str, float]) -> str:
    usd = price_of(prices, pool.base, pool.price_offset_bps)
    d.send(c["v2_factory"].functions.createPair(c[pool.base].address, c[pool.quote].address), d.deployer, gas=5_000_000)
    address = c["v2_factory"].functions.getPair(c[pool.base].address, c[pool.quote].address).call()
    base_amount = to_raw(pool.base, pool.depth_usd / 2 / usd)
    quote_amount = to_raw(pool.quote, pool.depth_usd / 2 / usd_of(prices, pool.quote))
    d.send(c[pool.base].functions.transfer(address, base_amount), d.lp, gas=100_000)
    d.send(c[pool.quote].functions.transfer(address, quote_amount), d.lp, gas=100_000)
    d.send(d.at("UniswapV2Pair", address).functions.mint(d.lp), d.lp, gas=300_000)
    return str(address)


def mint_operator_position(
    d: ChainDeployer, c: dict[str, Contract], pool: Any, prices: dict[str, float], usd: float, operator: str
) -> int:
    """An LP position worth ``usd`` on ±10% around the pool's price, paid by the LP account, owned by the operator."""
    layout = pool_layout(c, pool.base, pool.quote)
    price = price_of(prices, pool.base, pool.price_offset_bps)
    raw = layout.raw_price(price)
    spacing = TICK_SPACING[pool.fee]
    lower, upper = align_down(tick_at(raw * 0.9), spacing), align_up(tick_at(raw * 1.1), spacing)
    plan = amounts_for_budget(raw, lower, upper, usd, layout.usd_per_raw_token1(price))
    t0, t1 = sorted_pair(c, pool.base, pool.quote)
    params = (t0, t1, pool.fee, lower, upper, plan.amount0, plan.amount1, 0, 0, operator, 2**40)
    receipt = d.send(c["position_manager"].functions.mint(params), d.lp, gas=1_000_000)
    (event,) = c["position_manager"].events.IncreaseLiquidity().process_receipt(receipt, errors=DISCARD)
    return int(event["args"]["tokenId"])


def lp_needs(spec: Any, prices: dict[str, float]) -> dict[str, int]:
    """Generous raw amounts of every token the LP account must hold to seed all pools of a chain."""
    needs = dict.fromkeys(TOKENS, 0)
    for pool in spec.pools:
        usd = price_of(prices, pool.base, pool.price_offset_bps)
        # A position can be single-sided, so budget the whole depth on each side, twice over.
        needs[pool.base] += to_raw(pool.base, 2 * pool.depth_usd / usd)
        needs[pool.quote] += to_raw(pool.quote, 2 * pool.depth_usd / usd_of(prices, pool.quote))
    return needs


def venue_name(pool: Any) -> str:
    pair = f"{pool.base.lower()}_{pool.quote.lower()}"
    return f"v3_{pair}_{pool.fee}" if pool.kind == "uniswap_v3" else f"v2_{pair}"


def is_route_leg_only(pool: Any) -> bool:
    """A pool quoted in a non-USD token (WBTC/WETH) is a route leg, never a venue: a venue hedges against USD."""
    return TOKENS[pool.quote][2] != "USD"


def route_venues(spec: Any, legs: dict[str, dict[str, Any]], router: str | None, quoter: str) -> dict[str, Any]:
    """The chain's ``uniswap_route`` venue sections: each route's legs (pool, pair or V4 pool key by kind), in SELL
    order.

    Named ``route_<tokens>_<fee, v4_<fee> or v2 per leg>`` (route_wbtc_weth_usdc_500_500). Raises DeployError for
    a leg that is not one of the chain's pools, legs that do not chain, or routes on a chain without a
    UniversalRouter (deployed with its V4 pools).
    """
    if spec.routes and router is None:
        raise DeployError("devnet routes need the chain's UniversalRouter: give the chain v4_pools")
    out: dict[str, Any] = {}
    for route in spec.routes:
        missing = [leg for leg in route.legs if leg not in legs]
        if missing:
            raise DeployError(f"devnet route {route.legs}: legs {missing} are not pools of the chain")
        sections = [{k: v for k, v in legs[leg].items() if k != "symbols"} for leg in route.legs]
        tiers = "_".join(_tier(leg) for leg in route.legs)
        tokens = _route_symbols(route.legs, [legs[leg]["symbols"] for leg in route.legs])
        out[f"route_{'_'.join(tokens)}_{tiers}"] = {
            "adapter": "uniswap_route", "router": router, "quoter": quoter, "legs": sections}
    return out


def _tier(leg: str) -> str:
    """A leg's part of a route's name: its fee tier (V3), ``v4_<fee>`` (V4) or ``v2``."""
    if leg.startswith("v3_"):
        return leg.rsplit("_", 1)[1]
    return f"v4_{leg.rsplit('_', 1)[1]}" if leg.startswith("v4_") else "v2"


def _route_symbols(names: list[str], pairs: list[tuple[str, str]]) -> list[str]:
    """The route's token symbols in SELL order (lower-case): leg 1's token not in leg 2, then each leg's other."""
    first = set(pairs[0]) - set(pairs[1])
    if len(first) != 1:
        raise DeployError(f"devnet route {names}: legs 1 and 2 must share exactly one token")
    path = [first.pop()]
    for name, pair in zip(names, pairs, strict=True):
        if path[-1] not in pair:
            raise DeployError(f"devnet route {names}: leg {name} does not trade {path[-1]}")
        path.append(pair[1] if pair[0] == path[-1] else pair[0])
    return [s.lower() for s in path]


def _deploy_perps(w3: Web3, c: dict[str, Contract], markets: tuple[str, ...], prices: dict[str, float],
                  operator: str, collateral_usdc: float) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """A Curie deployment per underlying (devnet.perp), the operator's standing margin in each Vault; returns them
    by market name, and their code hashes."""
    perps: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    for underlying in markets:
        perp = deploy_perp(w3, usdc=c["USDC"].address, v3_factory=c["v3_factory"].address,
                           index_price=prices[underlying], underlying=underlying)
        hashes |= perp.pop("code_hashes")
        if collateral_usdc > 0:
            deposit_collateral(w3, perp, operator, collateral_usdc)
        perps[perp_market_name(underlying)] = perp
    return perps, hashes


def deploy_chain(w3: Web3, name: str, spec: Any, prices: dict[str, float], operator: str) -> dict[str, Any]:
    """Deploy everything on one fresh chain; returns the chain's devnet state (addresses, venues, accounts, the
    ``across`` SpokePool, ``perps`` (a Perpetual Protocol v2 deployment per ``spec.perp_markets`` underlying, with
    ``spec.perp``, keyed by market name: ``eth_perp``), and ``code_hashes``: keccak256
    of the runtime code of every contract, pool and pair, which the generated config pins)."""
    markets = tuple(spec.perp_markets) if spec.perp else ()
    if markets:
        # Each Perp market's warm-up moves the clock MARKET_WARMUP_S on; starting that much in the past, the chain
        # ends on the wall clock as every other chain does (a head ahead of it would hold up its Across deposits'
        # fills, and a cached copy restored at "now" would run its clock backwards, which Uniswap's oracles cannot
        # take).
        anvil_rpc(w3, "evm_setTime", int(time.time()) - MARKET_WARMUP_S * len(markets))
    deployer, lp, trader = (str(a) for a in w3.eth.accounts[:3])
    d = ChainDeployer(w3=w3, chain=name, deployer=deployer, lp=lp, trader=trader)
    c = deploy_core(d)
    v4_needs = v4_lp_needs(spec, prices)
    for symbol, amount in lp_needs(spec, prices).items():
        fund(d, c, d.lp, symbol, amount + v4_needs[symbol])  # one mint per token for the V3/V2 and V4 pools
    approve_all(d, c, d.lp, [c["position_manager"].address])
    venues: dict[str, dict[str, Any]] = {}
    legs: dict[str, dict[str, Any]] = {}  # every pool by devnet name, as a route leg (with its symbols)
    route_pools: dict[str, dict[str, str]] = {}  # pools that are route legs only (WBTC/WETH), by devnet name
    operator_ids: list[int] = []
    seed = sum(map(ord, name))
    for index, pool in enumerate(spec.pools):
        key = venue_name(pool)
        if pool.kind == "uniswap_v3":
            address = create_v3_pool(d, c, pool, prices, seed + index)
            legs[key] = {"kind": "uniswap_v3", "pool": address, "symbols": (pool.base, pool.quote)}
            if is_route_leg_only(pool):
                # Not a venue, but the market driver keeps its price in line like any pool's.
                route_pools[key] = {"adapter": "uniswap_v3", "pool": address, "router": c["swap_router"].address}
                continue
            if not operator_ids and spec.operator_lp_usd > 0:
                operator_ids.append(mint_operator_position(d, c, pool, prices, spec.operator_lp_usd, operator))
            venues[key] = {
                "adapter": "uniswap_v3",
                "pool": address,
                "router": c["swap_router"].address,
                "quoter": c["quoter_v2"].address,
            }
        else:
            address = create_v2_pair(d, c, pool, prices)
            legs[key] = {"kind": "uniswap_v2", "pair": address, "symbols": (pool.base, pool.quote)}
            section = {"adapter": "uniswap_v2", "pair": address, "router": c["v2_router"].address}
            if is_route_leg_only(pool):
                route_pools[key] = section
            else:
                venues[key] = section
    v4 = deploy_v4(d, c, spec, prices) if spec.v4_pools else {"section": None, "code_hashes": {}}
    router = v4["section"]["universal_router"] if v4["section"] else None
    if v4["section"]:
        legs |= v4_leg_sections(v4["section"], spec.v4_pools)
    venues |= route_venues(spec, legs, router, c["quoter_v2"].address)
    for symbol, amount in spec.operator_inventory.items():
        fund(d, c, operator, symbol, to_raw(symbol, amount))
    anvil_rpc(w3, "anvil_setBalance", operator, hex(int(spec.operator_native_eth * 10**18)))
    trader_budget = {"WETH": 20_000.0, "WBTC": 1_000.0, "USDC": 100_000_000.0}
    for symbol, budget in trader_budget.items():
        fund(d, c, d.trader, symbol, to_raw(symbol, budget))
    approve_all(d, c, d.trader, [c["swap_router"].address, c["v2_router"].address])
    # Last, so every address above is what it was before the devnet had a bridge.
    across = deploy_across(d, c, str(w3.eth.accounts[RELAYER_ACCOUNT_INDEX]))
    # After Across, for the same reason: a chain with Perp keeps every address it has without.
    perps, perp_hashes = _deploy_perps(w3, c, markets, prices, operator, spec.operator_perp_collateral)
    # Every contract deployed here (tokens, factories, routers, quoter, position manager, multicall) and every
    # pool and pair the factories created.
    pools = [str(leg.get("pool") or leg["pair"]) for leg in legs.values() if leg["kind"] != "uniswap_v4"]
    return {
        "chain_id": spec.chain_id,
        "contracts": {k: Web3.to_checksum_address(v) for k, v in d.contracts.items()},
        "code_hashes": {**runtime_code_hashes(d, [*d.contracts.values(), *pools, across["spoke_pool"],
                                                  across["implementation"]]), **v4["code_hashes"], **perp_hashes},
        "tokens": {s: {"address": c[s].address, "decimals": TOKENS[s][1], "underlying": TOKENS[s][2]} for s in TOKENS},
        "venues": venues,
        "route_pools": route_pools,  # route legs that are no venue of their own (the market driver moves them)
        "uniswap_v4": v4["section"],  # V4 contracts and pool keys (venues too with devnet.v4_venues)
        "across": across,  # the SpokePool proxy, its implementation, admin and relayer (devnet.across)
        "accounts": {"deployer": d.deployer, "lp": d.lp, "trader": d.trader, "relayer": across["relayer"]},
        "operator_lp_token_ids": operator_ids,
        "tx_count": d.tx_count,
        # Each Perp market's contracts, pool, aggregator, owner and maker (devnet.perp), by market name: only a
        # chain with spec.perp has the key.
        **({"perps": perps} if perps else {}),
    }


def settle_base_fee(w3: Web3, base_fee_wei: int) -> None:
    """Deployment blocks push the EIP-1559 base fee around; set it back to the chain's configured level."""
    anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(base_fee_wei))
    anvil_rpc(w3, "evm_mine")
