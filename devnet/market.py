"""Move the devnet's pools along a real price path, the way arbitrageurs keep DEX prices in line with the market.

Each step sets a target USD price per underlying; every pool is then swapped to it by the devnet's trader account
(a pool quoted in another risky token, a route's WBTC/WETH leg, to the ratio of their prices):
a Uniswap V3 pool with SwapRouter.exactInputSingle and a sqrtPriceLimitX96 at the target (the swap stops exactly
there), a V2 pair with the constant-product amount that lands its reserves on the target, a Uniswap V4 pool
(devnet.v4's, native-ether ones too) with the UniversalRouter exact output that lands it there (V4's router takes
no price limit; devnet.v4_market walks the pool's ticks for the amount). On a chain with Perp
(devnet.perp) each step also sets the index to the ETH price and the trader, as a taker with Vault collateral,
trades the vAMM to it through ClearingHouse.openPosition with the same kind of price limit. Devnet only: the trader
is an unlocked anvil account.

Usage::

    driver = MarketDriver.from_state(devnet_state, base_fees_gwei={"ethereum": 20})
    driver.move_to({"ETH": 3050.0, "BTC": 61000.0})
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

from crosshedge import InputError
from devnet.anvil import anvil_rpc
from devnet.artifacts import load_artifact
from devnet.deployer import MAX_UINT, TOKENS, TX, DeployError
from devnet.liquidity import PairLayout, sqrt_price_x96
from devnet.perp import perp_contract, set_index_price
from devnet.v4_market import UNDERLYING, V4PoolRef, v4_pool_refs, v4_to

V2_FEE_KEEP = 0.997  # a V2 pair keeps 0.3% of the input
#: Curie refuses a trade that ends more than MAX_TICK_CROSSED ticks (about 10%) from the tick of its last trade at
#: least PERP_TICK_WINDOW_S old (EX_OPLAS): one perp trade moves the vAMM at most this far, so a bigger jump is
#: taken in pieces. (Every piece ends between the old mark and the new index, so their spread only narrows; on the
#: devnet Curie took a mark 15% off its 15-min index TWAP, so the driver does not hold the vAMM to that TWAP.)
PERP_MAX_MOVE = 0.08
PERP_TICK_WINDOW_S = 15
PERP_MAX_TRADES = 8  # pieces per step: a jump of up to about 85%
PERP_COLLATERAL_USDC = 5_000_000  # the taker's Vault deposit: 10% initial margin on positions up to 50M USD
_PERP_AMOUNT = 10**30  # an exact input no trade uses up: the price limit stops the swap
_PERP_GAS = 5_000_000


@dataclass(frozen=True)
class PoolRef:
    chain: str
    venue: str
    kind: str
    address: str
    router: str
    base: str  # symbol
    quote: str
    base_address: str
    quote_address: str
    fee: int


@dataclass(frozen=True)
class PerpRef:
    """A chain's Perp market (devnet.perp): its vAMM's base is the pool's token0, both tokens have 18 decimals."""

    chain: str
    underlying: str  # what the market's index follows: the path's price of it
    clearing_house: str
    vault: str
    base_token: str
    pool: str
    aggregator: str
    usdc: str  # the Vault's settlement token


def _underlying(symbol: str) -> str:
    return TOKENS[symbol][2]


def _pair_target(prices: dict[str, float], base: str, quote: str) -> float | None:
    """Quote per base of underlyings ``base``/``quote`` at ``prices``: a cross pool (WBTC/WETH) sits on the ratio of
    the two prices. None when a price is missing (the pool is left where it is)."""
    target = prices.get(base)
    if target is None or quote == "USD":
        return target
    quote_usd = prices.get(quote)
    return None if quote_usd is None else target / quote_usd


class MarketDriver:
    """Arbitrages every devnet pool to target prices, one chain at a time, from the trader account: the V3/V2
    ``pools``, the V4 pools (``v4_pools``) and the perp vAMMs."""

    def __init__(
        self, w3s: dict[str, Web3], pools: list[PoolRef], trader: dict[str, str], base_fees_wei: dict[str, int],
        perps: list[PerpRef] | None = None, v4_pools: list[V4PoolRef] | None = None,
    ) -> None:
        self.w3s, self.pools, self.trader, self.base_fees_wei = w3s, pools, trader, base_fees_wei
        self.perps = perps or []
        self.v4_pools = v4_pools or []
        self.swaps = 0

    @classmethod
    def from_state(cls, state: dict[str, Any], base_fees_gwei: dict[str, float]) -> MarketDriver:
        w3s, pools, trader, perps, v4_pools = {}, [], {}, [], []
        for chain, s in state["chains"].items():
            w3s[chain] = Web3(HTTPProvider(s["rpc_url"], request_kwargs={"timeout": 30}))
            trader[chain] = s["accounts"]["trader"]
            for p in (s.get("perps") or {}).values():
                perps.append(PerpRef(chain=chain, underlying=p["underlying"], clearing_house=p["clearing_house"],
                                     vault=p["vault"], base_token=p["base_token"], pool=p["pool"],
                                     aggregator=p["aggregator"], usdc=p["settlement_token"]))
            # V4 pools live in the chain's uniswap_v4 section, venues or not (devnet.v4_venues).
            v4_pools += v4_pool_refs(chain, s)
            # Route venues trade through pools listed here already, or in route_pools (their legs only).
            sections = {v: sec for v, sec in s["venues"].items() if "legs" not in sec} | s.get("route_pools", {})
            for venue, section in sections.items():
                kind = section["adapter"]
                parts = venue.split("_")  # v3_weth_usdc_500 / v2_weth_usdc
                base, quote = parts[1].upper(), parts[2].upper()
                pools.append(
                    PoolRef(
                        chain=chain,
                        venue=venue,
                        kind=kind,
                        address=section.get("pool") or section["pair"],
                        router=section["router"],
                        base=base,
                        quote=quote,
                        base_address=s["tokens"][base]["address"],
                        quote_address=s["tokens"][quote]["address"],
                        fee=int(parts[3]) if kind == "uniswap_v3" else 3000,
                    )
                )
        fees = {c: int(g * 1e9) for c, g in base_fees_gwei.items()}
        return cls(w3s, pools, trader, fees, perps, v4_pools)

    def move_to(self, prices: dict[str, float]) -> int:
        """Swap every pool to ``prices`` (USD per underlying); returns the number of arbitrage swaps sent."""
        sent = 0
        for pool in self.pools:
            target = _pair_target(prices, _underlying(pool.base), _underlying(pool.quote))
            if target is None:
                continue
            w3 = self.w3s[pool.chain]
            self._settle_fee(w3, pool.chain)
            moved = self._v3_to(w3, pool, target) if pool.kind == "uniswap_v3" else self._v2_to(w3, pool, target)
            sent += int(moved)
        for v4 in self.v4_pools:
            target = _pair_target(prices, UNDERLYING[v4.base], UNDERLYING[v4.quote])
            if target is not None:
                w3 = self.w3s[v4.chain]
                settle = functools.partial(self._settle_fee, w3, v4.chain)
                sent += int(v4_to(w3, v4, target, self.trader[v4.chain], settle))
        for perp in self.perps:
            price = prices.get(perp.underlying)
            if price is not None:
                sent += self._perp_to(self.w3s[perp.chain], perp, price)
        self.swaps += sent
        return sent

    def _settle_fee(self, w3: Web3, chain: str) -> None:
        if chain in self.base_fees_wei:  # keep each chain's gas market at its own level
            anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(self.base_fees_wei[chain]))

    def _perp_send(self, w3: Web3, perp: PerpRef, fn: Any, what: str) -> Any:
        self._settle_fee(w3, perp.chain)
        tx = fn.transact({"from": self.trader[perp.chain], "gas": _PERP_GAS, **TX})
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.01)
        if receipt["status"] != 1:
            raise DeployError(f"devnet {perp.chain}: perp {what} reverted (tx {tx.hex()})")
        return receipt

    def _perp_fund(self, w3: Web3, perp: PerpRef) -> None:
        """The taker's Vault collateral, deposited at its first trade (the trader holds the devnet's USDC)."""
        vault = perp_contract(w3, "Vault", perp.vault)
        trader = self.trader[perp.chain]
        if int(vault.functions.getBalance(trader).call()) > 0:
            return
        usdc = w3.eth.contract(address=Web3.to_checksum_address(perp.usdc),
                               abi=load_artifact("ERC20PresetMinterPauser").abi)
        self._perp_send(w3, perp, usdc.functions.approve(vault.address, MAX_UINT), "USDC approve")
        raw = PERP_COLLATERAL_USDC * 10 ** int(usdc.functions.decimals().call())
        self._perp_send(w3, perp, vault.functions.deposit(usdc.address, raw), "Vault deposit")

    def _perp_to(self, w3: Web3, perp: PerpRef, usd: float) -> int:
        """Set the index to ``usd`` and trade the vAMM to it; returns the number of trades sent."""
        self._settle_fee(w3, perp.chain)
        set_index_price(w3, perp.aggregator, usd)
        pool = w3.eth.contract(address=Web3.to_checksum_address(perp.pool), abi=load_artifact("UniswapV3Pool").abi)
        house = perp_contract(w3, "ClearingHouse", perp.clearing_house)
        trades = 0
        for _ in range(PERP_MAX_TRADES):
            current = int(pool.functions.slot0().call()[0])
            mark = (current / 2**96) ** 2  # vUSD per vETH: base is token0, both 18 decimals
            goal = min(max(usd, mark * (1 - PERP_MAX_MOVE)), mark * (1 + PERP_MAX_MOVE))
            target = sqrt_price_x96(goal)
            if abs(target - current) <= current // 1_000_000:  # within 0.02 bp of price: nothing to arbitrage
                break
            if not trades:
                self._perp_fund(w3, perp)
            latest = int(w3.eth.get_block("latest")["timestamp"])
            # Lowering sqrtPrice sells base (vETH, token0) for quote; raising it buys base. Exact input, stopped at
            # the limit: an arbitrageur's trade to the target.
            sell = target < current
            params = (perp.base_token, sell, True, _PERP_AMOUNT, 0, latest + 600, target, b"\x00" * 32)
            fn = house.functions.openPosition(params)
            try:
                fn.call({"from": self.trader[perp.chain], "gas": _PERP_GAS})
            except ContractLogicError as exc:
                if "EX_OPLAS" not in str(exc):
                    raise DeployError(f"devnet {perp.chain}: perp openPosition to {goal:.2f} reverts ({exc})") from None
                # The tick cap's reference is a trade of the last PERP_TICK_WINDOW_S: the piece waits that long
                # (the chain's clock moves on, as it only does when a step jumps further than the cap).
                anvil_rpc(w3, "evm_setNextBlockTimestamp", latest + PERP_TICK_WINDOW_S)
            self._perp_send(w3, perp, fn, f"openPosition to {goal:.2f}")
            trades += 1
        return trades

    def _tx(self, pool: PoolRef, gas: int) -> Any:
        return {"from": self.trader[pool.chain], "gas": gas, **TX}  # TxParams, a TypedDict web3 checks at run time

    def _layout(self, pool: PoolRef) -> PairLayout:
        return PairLayout(
            int(pool.base_address, 16) < int(pool.quote_address, 16), TOKENS[pool.base][1], TOKENS[pool.quote][1]
        )

    def _v3_to(self, w3: Web3, pool: PoolRef, usd: float) -> bool:
        contract = w3.eth.contract(
            address=Web3.to_checksum_address(pool.address), abi=load_artifact("UniswapV3Pool").abi
        )
        current = contract.functions.slot0().call()[0]
        target = sqrt_price_x96(self._layout(pool).raw_price(usd))
        if abs(target - current) <= current // 1_000_000:  # within 0.02 bp of price: nothing to arbitrage
            return False
        layout = self._layout(pool)
        # Raising sqrtPrice (token1 per token0) means buying token0 with token1.
        token0_in = target < current
        token_in, token_out = (
            (pool.base_address, pool.quote_address)
            if token0_in == layout.base_is_token0
            else (pool.quote_address, pool.base_address)
        )
        router = w3.eth.contract(address=Web3.to_checksum_address(pool.router), abi=load_artifact("SwapRouter").abi)
        params = (token_in, token_out, pool.fee, self.trader[pool.chain], 2**40, 10**40, 0, target)
        tx = router.functions.exactInputSingle(params).transact(self._tx(pool, 3_000_000))
        w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.01)
        return True

    def _v2_to(self, w3: Web3, pool: PoolRef, usd: float) -> bool:
        pair = w3.eth.contract(address=Web3.to_checksum_address(pool.address), abi=load_artifact("UniswapV2Pair").abi)
        r0, r1, _ = pair.functions.getReserves().call()
        layout = self._layout(pool)
        base_r, quote_r = (r0, r1) if layout.base_is_token0 else (r1, r0)
        scale = 10.0 ** (TOKENS[pool.base][1] - TOKENS[pool.quote][1])
        price = quote_r / base_r * scale
        if abs(price / usd - 1) < 2e-6:
            return False
        k = base_r * quote_r
        # Reserves that sit on the target price: base' = sqrt(k / p_raw); the input is the reserve change / fee kept.
        target_base = math.sqrt(k / (usd / scale))
        if target_base > base_r:  # price too high: sell base into the pair
            amount_in, path = int((target_base - base_r) / V2_FEE_KEEP), [pool.base_address, pool.quote_address]
        else:
            target_quote = k / target_base
            amount_in, path = int((target_quote - quote_r) / V2_FEE_KEEP), [pool.quote_address, pool.base_address]
        if amount_in <= 0:
            return False
        router = w3.eth.contract(
            address=Web3.to_checksum_address(pool.router), abi=load_artifact("UniswapV2Router02").abi
        )
        tx = router.functions.swapExactTokensForTokens(amount_in, 0, path, self.trader[pool.chain], 2**40).transact(
            self._tx(pool, 500_000)
        )
        w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.01)
        return True


def load_price_path(path: Path, start: str | None = None, steps: int = 48) -> list[tuple[str, float]]:
    """(timestamp, close) rows from an hourly candle CSV (columns mapped by header), ``steps`` long from ``start``."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"timestamp", "close"} <= set(reader.fieldnames):
                raise InputError(f"{path}: needs 'timestamp' and 'close' columns, found {reader.fieldnames}")
            rows = []
            for line, row in enumerate(reader, start=2):
                if start is not None and row["timestamp"] < start:
                    continue
                close = float(row["close"])
                if not math.isfinite(close) or close <= 0:
                    raise InputError(f"{path}: row {line}: close must be a positive number, got {row['close']!r}")
                rows.append((row["timestamp"], close))
                if len(rows) >= steps:
                    break
    except OSError as exc:
        raise InputError(f"{path}: cannot read the price file ({exc.strerror})") from None
    if len(rows) < 2:
        raise InputError(f"{path}: fewer than two prices from {start or 'the start'}")
    return rows
