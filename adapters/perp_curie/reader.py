"""Read Curie markets of one chain, pinned to one block, in at most THREE round trips with a multicall.

Round 1 carries, for every market, the vAMM pool's head (adapters.uniswap_v3.reader, whose bitmap and tick rounds
follow), the market's fee ratios and tick cap (MarketRegistry, Exchange), the index and mark prices, the margin
ratios, TWAP interval and funding cap (ClearingHouseConfig), the Vault's settlement token and, for the wallet, its
position, open notional, realized PnL, collateral, free collateral, account value and pending funding. Round 2
(beside the pool reader's bitmap round) reads the two TWAPs funding is computed from, whose interval round 1 read.
A warm pool read (hints) needs no round 3, so a market costs 2 or 3 round trips, however many are read.

Usage::

    _, [markets] = run_stages(chain.w3, [market_stages(chain, requests, hints)], block, chain.multicall, chain.name)
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from adapters.perp_curie.config import PerpCurieConfig
from adapters.rpc import Call, CallResult, StageResult, Stages, checksum_address, decode, encode_call
from adapters.types import ChainContext, TokenInfo
from adapters.uniswap_v3.reader import HintCache, PoolRead, PoolRequest, read_pools_staged
from crosshedge import AdapterError

MAX_ROUND_TRIPS = 3
VIRTUAL_DECIMALS = 18  # Curie's virtual tokens and its internal amounts


@dataclass(frozen=True)
class MarketRequest:
    market: str
    config: PerpCurieConfig


@dataclass(frozen=True)
class MarketRead:
    """One market's raw reads at the block (integers as the contracts return them) and its pool."""

    request: MarketRequest
    pool: PoolRead
    values: dict[str, Any]
    collateral: TokenInfo
    account: str | None


def _market_calls(c: PerpCurieConfig, account: str | None) -> list[tuple[str, tuple[str, ...], Call]]:
    base = c.base_token
    calls = [
        ("market_info", ("address", "uint24", "uint24", "uint24", "uint24"),
         encode_call(c.market_registry, "getMarketInfo(address)", base)),
        ("max_ticks", ("uint24",), encode_call(c.exchange, "getMaxTickCrossedWithinBlock(address)", base)),
        ("index", ("uint256",), encode_call(base, "getIndexPrice(uint256)", 0)),
        ("mark", ("uint256",), encode_call(c.account_balance, "getMarkPrice(address)", base)),
        ("twap_interval", ("uint32",), encode_call(c.clearing_house_config, "getTwapInterval()")),
        ("max_funding", ("uint24",), encode_call(c.clearing_house_config, "getMaxFundingRate()")),
        ("mm_ratio", ("uint24",), encode_call(c.clearing_house_config, "getMmRatio()")),
        ("im_ratio", ("uint24",), encode_call(c.clearing_house_config, "getImRatio()")),
        ("settlement_token", ("address",), encode_call(c.vault, "getSettlementToken()")),
    ]
    if account is not None:
        calls += [
            ("size", ("int256",), encode_call(c.account_balance, "getTakerPositionSize(address,address)", account,
                                              base)),
            ("open_notional", ("int256",), encode_call(c.account_balance, "getTakerOpenNotional(address,address)",
                                                       account, base)),
            ("pnl", ("int256", "int256", "uint256"), encode_call(c.account_balance, "getPnlAndPendingFee(address)",
                                                                 account)),
            ("balance", ("int256",), encode_call(c.vault, "getBalance(address)", account)),
            ("free_collateral", ("uint256",), encode_call(c.vault, "getFreeCollateral(address)", account)),
            ("account_value", ("int256",), encode_call(c.clearing_house, "getAccountValue(address)", account)),
            ("funding", ("int256",), encode_call(c.exchange, "getPendingFundingPayment(address,address)", account,
                                                 base)),
        ]
    return calls


def _twap_calls(c: PerpCurieConfig, interval: int) -> list[tuple[str, tuple[str, ...], Call]]:
    return [
        ("sqrt_market_twap", ("uint160",), encode_call(c.exchange, "getSqrtMarkTwapX96(address,uint32)", c.base_token,
                                                       interval)),
        ("index_twap", ("uint256",), encode_call(c.base_token, "getIndexPrice(uint256)", interval)),
    ]


def _decoded(chain: str, market: str, calls: Sequence[tuple[str, tuple[str, ...], Call]],
             results: Sequence[CallResult]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for (name, types, call), res in zip(calls, results, strict=True):
        try:
            if not res.success:
                raise ValueError("the call reverted")
            values = decode(types, res.data)
        except ValueError as exc:
            raise AdapterError(f"chain {chain}: market {market}: {call.target} did not answer as Curie does "
                               f"({name}: {exc})") from None
        out[name] = values[0] if len(values) == 1 else tuple(values)
    return out


def _virtual_context(chain: ChainContext, requests: Sequence[MarketRequest]) -> ChainContext:
    """The chain with the markets' virtual tokens as its tokens: what the pool reader checks the vAMMs against."""
    tokens: dict[str, TokenInfo] = {}
    for r in requests:
        c = r.config
        for address, symbol, underlying in ((c.base_token, f"v{c.underlying}", c.underlying),
                                            (c.quote_token, "vUSD", "USD")):
            a = checksum_address(address)
            tokens[a] = TokenInfo(chain=chain.name, symbol=symbol, address=a, decimals=VIRTUAL_DECIMALS,
                                  underlying=underlying)
    return replace(chain, tokens=tokens)


def collateral_token(chain: ChainContext, market: str, symbol: str) -> TokenInfo:
    """The chain's configured token ``symbol`` (the market's collateral); AdapterError naming the market if none."""
    for token in chain.tokens.values():
        if token.symbol == symbol:
            return token
    raise AdapterError(f"chain {chain.name}: market {market}: collateral {symbol} is not a configured token")


def market_stages(chain: ChainContext, requests: Sequence[MarketRequest], hints: HintCache | None = None,
                  ) -> Generator[list[Call], StageResult, list[MarketRead]]:
    """The staged reader of ``requests`` (see the module doc); drive it with :func:`adapters.rpc.run_stages`."""
    if not requests:
        return []
    account_raw = chain.extras.get("wallet")
    account = checksum_address(str(account_raw)) if account_raw else None
    pools = read_pools_staged(_virtual_context(chain, requests),
                              [PoolRequest(r.market, r.config.pool, r.config.window_ticks) for r in requests], hints)
    own = [_market_calls(r.config, account) for r in requests]
    pool_calls = next(pools)
    mine = [c for calls in own for _, _, c in calls]
    block, results = yield pool_calls + mine
    values = _split(chain, requests, own, results[len(pool_calls):])
    twaps = [_twap_calls(r.config, int(v["twap_interval"])) for r, v in zip(requests, values, strict=True)]
    twap_calls = [c for calls in twaps for _, _, c in calls]
    reads: list[PoolRead] | None = None
    try:
        pool_calls = pools.send((block, results[: len(pool_calls)]))
    except StopIteration as done:
        reads, pool_calls = list(done.value), []
    _, results = yield pool_calls + twap_calls
    for v, more in zip(values, _split(chain, requests, twaps, results[len(pool_calls):]), strict=True):
        v.update(more)
    pool_results = results[: len(pool_calls)]
    while reads is None:  # the pool reader's tick round, when it has one
        try:
            pool_calls = pools.send((block, pool_results))
        except StopIteration as done:
            reads = list(done.value)
            break
        _, pool_results = yield pool_calls
    return [MarketRead(r, p, v, collateral_token(chain, r.market, r.config.collateral), account)
            for r, p, v in zip(requests, reads, values, strict=True)]


def _split(chain: ChainContext, requests: Sequence[MarketRequest],
           calls: Sequence[Sequence[tuple[str, tuple[str, ...], Call]]], results: Sequence[CallResult],
           ) -> list[dict[str, Any]]:
    out, at = [], 0
    for r, mine in zip(requests, calls, strict=True):
        out.append(_decoded(chain.name, r.market, mine, results[at: at + len(mine)]))
        at += len(mine)
    return out


__all__ = ["MAX_ROUND_TRIPS", "MarketRead", "MarketRequest", "Stages", "collateral_token", "market_stages"]
