"""The ``uniswap_v2`` venue adapter: constant-product pairs, read in ONE round trip per chain (or none of its own).

One multicall (or JSON-RPC batch) at the block reads getReserves, token0 and token1 of every pair, decimals() of
every configured token and the block timestamp; :meth:`UniswapV2Adapter.read_stages` lets those calls ride in
another adapter's first multicall (adapters.rpc.run_stages). Quotes use the pair's integer math with its 0.3% fee
(``UniswapV2Library.getAmountOut``); ``save_state`` records a pair's reserves and ``quote_pool_state`` quotes such a
record (:mod:`adapters.uniswap_v2.records`); swaps go through UniswapV2Router02.swapExactTokensForTokens.

Usage::

    [state] = UniswapV2Adapter().read(chain, [venue], block)
    out = UniswapV2Adapter().quote(state, Side.BUY, 3_000 * 10**6)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from adapters.contract import Capability, VenueChecks, VenueContracts
from adapters.pool_state import PoolState, UniswapV2PoolState
from adapters.receipts import SwapAmounts, fill_from_receipt
from adapters.rpc import Address, Call, CallResult, Stages, calldata, decode, encode_call, run_stages
from adapters.types import ChainContext, Curve, Fill, Side, SwapQuote, TokenInfo, TxRequest, VenueEntry, VenueState
from adapters.uniswap.curve import (
    EXACT_RATE,
    FLOAT_SHAVE,
    CurveCache,
    chord_step,
    coarse_moves,
    curve_from_points,
)
from adapters.uniswap.math import PIPS, V2_FEE_PIPS, get_amount_out
from adapters.uniswap.tokens import base_quote, check_token
from adapters.uniswap_v2.records import quote_record, quote_reserves, record_of
from adapters.uniswap_v2.verification import v2_checks
from crosshedge import AdapterError, InputError

SWAP_GAS = 105_000  # swapExactTokensForTokens, one hop
SWAP_TOPIC = Web3.keccak(text="Swap(address,uint256,uint256,uint256,uint256,address)")
SWAP_EXACT_TOKENS = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
_FIELDS = (("getReserves()", ("uint112", "uint112", "uint32")), ("token0()", ("address",)), ("token1()", ("address",)))


class UniswapV2Config(BaseModel):
    """A chains.yaml venue section for one Uniswap V2 pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair: Address
    router: Address  # UniswapV2Router02


def _reserves(state: VenueState, side: Side) -> tuple[int, int]:
    r0, r1 = int(state.pool["reserve0"]), int(state.pool["reserve1"])
    base_in = side is Side.SELL
    token0_in = bool(state.pool["base_is_token0"]) == base_in
    return (r0, r1) if token0_in else (r1, r0)


def sample_points(reserve_in: int, reserve_out: int) -> list[tuple[int, int]]:
    """Exact (amount_in, amount_out) breakpoints: chord-exact within CHORD_ERROR up to EXACT_IMPACT_BPS, then coarse.

    A pair is one constant-product range with reserves (R_in, R_out): after an effective input X (fee taken off) the
    relative piece size is chord_step(c) with c = X/R_in, and R_in + X grows by (1 + d) per piece (about 37 pieces
    to 1000 bp). Past it the coarse breakpoints sit at the IMPACT_BPS marginal moves, where (R_in/(R_in + X))² is
    the marginal price's fall. Outputs are the pair's exact getAmountOut less 1 wei and FLOAT_SHAVE, so the chord
    between two breakpoints stays below the floored output of any trade in between (and the float curve too).
    """
    fee = (PIPS - V2_FEE_PIPS) / PIPS
    mid_rate = reserve_out / reserve_in
    points: list[tuple[int, int]] = []

    def add(x_eff: float) -> float:
        """Append the breakpoint at effective input ``x_eff``; the trade's output/input over the mid-rate."""
        amount_in = int(x_eff / fee)
        if amount_in > (points[-1][0] if points else 0):
            out = get_amount_out(amount_in, reserve_in, reserve_out)
            points.append((amount_in, out - int(out * FLOAT_SHAVE) - 1))
        return reserve_out / (reserve_in + x_eff) / mid_rate  # getAmountOut's rate, before flooring

    x_eff, rate = 0.0, 1.0
    while rate >= EXACT_RATE:
        x_eff += chord_step(x_eff / reserve_in) * (reserve_in + x_eff)
        rate = add(x_eff)
    for move in coarse_moves(1 - (reserve_in / (reserve_in + x_eff)) ** 2):
        add(reserve_in * ((1 - move) ** -0.5 - 1))
    return points


class UniswapV2Adapter:
    """Venue adapter for Uniswap V2 pairs (see module docstring)."""

    name: ClassVar[str] = "uniswap_v2"
    kind: ClassVar[Literal["venue"]] = "venue"
    config_model: ClassVar[type[BaseModel]] = UniswapV2Config
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.STAGED_READS, Capability.POOL_STATE})

    def __init__(self) -> None:
        self._curves = CurveCache()

    def contracts(self, venue: VenueEntry) -> VenueContracts:
        """Approvals and swaps go to UniswapV2Router02; reads touch the pair."""
        config = self._config(venue)
        return VenueContracts(spender=config.router, called={"router": config.router}, read={"pair": config.pair})

    def verification(self, venue: VenueEntry) -> VenueChecks:
        """Router02 and the pair against the npm artifacts, the pair's factory and tokens derived from it, and the
        links V2 makes between them (see :mod:`adapters.uniswap_v2.verification`)."""
        config = self._config(venue)
        return v2_checks(config.pair, config.router, swap_signature=SWAP_EXACT_TOKENS)

    def read(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[VenueState]:
        """Every given pair at ``block`` in one round trip (two without a multicall: the block timestamp)."""
        if not venues:
            return []
        _, [states] = run_stages(chain.w3, [self.read_stages(chain, venues)], block, chain.multicall, chain.name)
        return list(states)

    def read_stages(self, chain: ChainContext, venues: Sequence[VenueEntry]) -> Stages:
        """:meth:`read` as a one-round staged reader, so its calls can ride in another adapter's multicall."""
        if not venues:
            return []
        configs = [self._config(v) for v in venues]
        tokens = list(chain.tokens.values())
        calls: list[Call] = [encode_call(c.pair, sig) for c in configs for sig, _ in _FIELDS]
        calls += [encode_call(t.address, "decimals()") for t in tokens]
        if chain.multicall is not None:
            calls.append(encode_call(chain.multicall, "getCurrentBlockTimestamp()"))
        block, results = yield calls
        n = len(_FIELDS)
        dec_results = results[len(configs) * n : len(configs) * n + len(tokens)]
        decimals = {
            t.address: int(decode(("uint8",), r.data)[0]) for t, r in zip(tokens, dec_results, strict=True) if r.success
        }
        if chain.multicall is not None:
            timestamp = int(decode(("uint256",), results[-1].data)[0])
        else:
            timestamp = int(chain.w3.eth.get_block(block)["timestamp"])
        return [
            self._state(chain, v, c, results[i * n : (i + 1) * n], decimals=decimals, block=block, timestamp=timestamp)
            for i, (v, c) in enumerate(zip(venues, configs, strict=True))
        ]

    def _config(self, venue: VenueEntry) -> UniswapV2Config:
        if not isinstance(venue.config, UniswapV2Config):
            raise AdapterError(f"chain {venue.chain}: venue {venue.name}: config is not a uniswap_v2 section")
        return venue.config

    def _state(
        self, chain: ChainContext, venue: VenueEntry, config: UniswapV2Config, results: Sequence[CallResult], *,
        decimals: dict[str, int], block: int, timestamp: int,
    ) -> VenueState:
        try:
            (r0, r1, _), (t0,), (t1,) = [
                decode(types, r.data if r.success else b"") for (_, types), r in zip(_FIELDS, results, strict=True)
            ]
        except ValueError as exc:
            raise AdapterError(
                f"chain {chain.name}: venue {venue.name}: {config.pair} is not a Uniswap V2 pair ({exc})"
            ) from None
        token0: TokenInfo = check_token(chain, venue.name, str(t0), decimals)
        token1: TokenInfo = check_token(chain, venue.name, str(t1), decimals)
        base, quote = base_quote(chain.name, venue.name, token0, token1)
        base_is_token0 = base is token0
        if r0 == 0 or r1 == 0:
            raise AdapterError(f"chain {chain.name}: venue {venue.name}: pair {config.pair} has no reserves")
        price01 = (r1 / 10**token1.decimals) / (r0 / 10**token0.decimals)
        sell_in, sell_out = (r0, r1) if base_is_token0 else (r1, r0)
        return VenueState(
            chain=chain.name, venue=venue.name, adapter=self.name, underlying=base.underlying, base=base, quote=quote,
            fee_pips=V2_FEE_PIPS, mid_price=price01 if base_is_token0 else 1 / price01, block_number=block,
            block_timestamp=timestamp, gas_units=SWAP_GAS,
            sell=self._curve(Side.SELL, sell_in, sell_out, base.decimals, quote.decimals),
            buy=self._curve(Side.BUY, sell_out, sell_in, base.decimals, quote.decimals),
            pool={"address": config.pair, "router": config.router, "chain_id": chain.chain_id,
                  "token0": token0.address, "token1": token1.address, "base_is_token0": base_is_token0,
                  "reserve0": int(r0), "reserve1": int(r1)},
            pools=(config.pair.lower(),),
        )

    def _curve(self, side: Side, reserve_in: int, reserve_out: int, base_decimals: int, quote_decimals: int) -> Curve:
        """One direction's curve, built once per (reserves, decimals): a pair's curve depends on nothing else."""
        return self._curves.curve(
            ("uniswap_v2", side, reserve_in, reserve_out, base_decimals, quote_decimals),
            lambda: curve_from_points(side, sample_points(reserve_in, reserve_out), base_decimals, quote_decimals))

    def quote(self, state: VenueState, side: Side, amount_in: int) -> int:
        """Exact amount out, as the pair computes it (never out of range: a constant product has no window)."""
        if amount_in <= 0:
            raise AdapterError(f"chain {state.chain}: venue {state.venue}: amount_in must be positive, got {amount_in}")
        return get_amount_out(amount_in, *_reserves(state, side))

    def quote_swap(self, state: VenueState, side: Side, amount_in: int) -> SwapQuote:
        """:meth:`quote` in full: input consumed (all of it: a pair never fills partially), output, price after."""
        if amount_in <= 0:
            raise AdapterError(f"chain {state.chain}: venue {state.venue}: amount_in must be positive, got {amount_in}")
        p = state.pool
        base_is_token0 = bool(p["base_is_token0"])
        dec0, dec1 = (state.base.decimals, state.quote.decimals) if base_is_token0 else \
            (state.quote.decimals, state.base.decimals)
        return quote_reserves(side, amount_in, int(p["reserve0"]), int(p["reserve1"]), base_is_token0, dec0, dec1)

    def save_state(self, chain: ChainContext, venues: Sequence[VenueEntry], block: int) -> list[PoolState]:
        """Every given pair at ``block`` as a recorded state (its reserves: a pair has no window to widen)."""
        return [record_of(state) for state in self.read(chain, venues, block)]

    def quote_pool_state(self, record: PoolState, side: Side, amount_in: int) -> SwapQuote:
        """Exact-in quote from a recorded V2 state, as the router's getAmountsOut gives it."""
        if not isinstance(record, UniswapV2PoolState):
            raise InputError(f"chain {record.chain}: venue {record.venue}: a {record.protocol} state is not a "
                             "uniswap_v2 state")
        return quote_record(record, side, amount_in)

    def build_swap(  # the VenueAdapter protocol's signature
        self, state: VenueState, side: Side, amount_in: int, min_amount_out: int, recipient: str, deadline: int
    ) -> TxRequest:
        """UniswapV2Router02.swapExactTokensForTokens along [token_in, token_out] with a minimum and deadline."""
        if amount_in <= 0 or min_amount_out <= 0:
            raise AdapterError(
                f"chain {state.chain}: venue {state.venue}: amount_in and min_amount_out must be positive "
                f"(got {amount_in}, {min_amount_out}); a zero minimum would accept any price"
            )
        token_in, token_out = (state.base, state.quote) if side is Side.SELL else (state.quote, state.base)
        data = calldata(
            SWAP_EXACT_TOKENS, amount_in, min_amount_out, [token_in.address, token_out.address],
            Web3.to_checksum_address(recipient), deadline,
        )
        return TxRequest(
            chain_id=int(state.pool["chain_id"]), to=str(state.pool["router"]), data=data,
            description=f"{state.venue}: {side.value} {amount_in} {token_in.symbol} for >= {min_amount_out} "
            f"{token_out.symbol}",
        )

    def parse_receipt(self, state: VenueState, receipt: Mapping[str, Any]) -> Fill:
        """The pair's Swap event in ``receipt`` as a Fill; AdapterError if the tx failed or has no such event."""
        return fill_from_receipt(state, receipt, SWAP_TOPIC, "pair", decode_v2_swap)


def decode_v2_swap(data: bytes, base_is_token0: bool) -> SwapAmounts:
    """A V2 Swap event reports what went in and out of each side."""
    a0_in, a1_in, a0_out, a1_out = decode(("uint256",) * 4, data)
    base_in, quote_in, base_out, quote_out = (
        (a0_in, a1_in, a0_out, a1_out) if base_is_token0 else (a1_in, a0_in, a1_out, a0_out)
    )
    if base_in > 0:
        return SwapAmounts(Side.SELL, int(base_in), int(quote_out), int(base_in), int(quote_out))
    return SwapAmounts(Side.BUY, int(quote_in), int(base_out), int(base_out), int(quote_in))
