"""Move the devnet's pools along a real price path, the way arbitrageurs keep DEX prices in line with the market.

Each step sets a target USD price per underlying; every pool is then swapped to it by the devnet's trader account
(a pool quoted in another risky token, a route's WBTC/WETH leg, to the ratio of their prices):
a Uniswap V3 pool with SwapRouter.exactInputSingle and a sqrtPriceLimitX96 at the target (the swap stops exactly
there), a V2 pair with the constant-product amount that lands its reserves on the target. Devnet only: the trader
is an unlocked anvil account.

Usage::

    driver = MarketDriver.from_state(devnet_state, base_fees_gwei={"ethereum": 20})
    driver.move_to({"ETH": 3050.0, "BTC": 61000.0})
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from crosshedge import InputError
from devnet.anvil import anvil_rpc
from devnet.artifacts import load_artifact
from devnet.deployer import TOKENS, TX
from devnet.liquidity import PairLayout, sqrt_price_x96

V2_FEE_KEEP = 0.997  # a V2 pair keeps 0.3% of the input


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


def _underlying(symbol: str) -> str:
    return TOKENS[symbol][2]


class MarketDriver:
    """Arbitrages every devnet pool to target prices, one chain at a time, from the trader account."""

    def __init__(
        self, w3s: dict[str, Web3], pools: list[PoolRef], trader: dict[str, str], base_fees_wei: dict[str, int]
    ) -> None:
        self.w3s, self.pools, self.trader, self.base_fees_wei = w3s, pools, trader, base_fees_wei
        self.swaps = 0

    @classmethod
    def from_state(cls, state: dict[str, Any], base_fees_gwei: dict[str, float]) -> MarketDriver:
        w3s, pools, trader = {}, [], {}
        for chain, s in state["chains"].items():
            w3s[chain] = Web3(HTTPProvider(s["rpc_url"], request_kwargs={"timeout": 30}))
            trader[chain] = s["accounts"]["trader"]
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
        return cls(w3s, pools, trader, fees)

    def move_to(self, prices: dict[str, float]) -> int:
        """Swap every pool to ``prices`` (USD per underlying); returns the number of arbitrage swaps sent."""
        sent = 0
        for pool in self.pools:
            target = prices.get(_underlying(pool.base))
            if target is None:
                continue
            if _underlying(pool.quote) != "USD":  # a cross pool (WBTC/WETH) sits on the ratio of the two prices
                quote_usd = prices.get(_underlying(pool.quote))
                if quote_usd is None:
                    continue
                target /= quote_usd
            w3 = self.w3s[pool.chain]
            if pool.chain in self.base_fees_wei:  # keep each chain's gas market at its own level
                anvil_rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(self.base_fees_wei[pool.chain]))
            moved = self._v3_to(w3, pool, target) if pool.kind == "uniswap_v3" else self._v2_to(w3, pool, target)
            sent += int(moved)
        self.swaps += sent
        return sent

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
