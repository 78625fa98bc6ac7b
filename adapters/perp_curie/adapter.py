"""The ``perp_curie`` perp adapter: Perpetual Protocol v2 (Curie) markets, whose vAMM is a Uniswap V3 pool.

Reads go through :mod:`adapters.perp_curie.reader` (every market of a chain and the wallet's account in it pinned to
one block, at most 3 round trips with a multicall, sharing rounds with other staged readers); quotes replay Curie's
order on the vAMM to the wei (:mod:`adapters.perp_curie.swap`: the pool's V3 swap with its fee scaled away, and the
exchange fee charged per step as Curie's OrderBook replays it); the curves are the vAMM's with the exchange fee in
place of the pool's. Orders are ``ClearingHouse.openPosition`` with the base amount exact (a short sells exactly it,
a long buys exactly it) and ``closePosition``; collateral moves with ``Vault.deposit`` / ``withdraw`` (after an exact
approval of the Vault); fills are the ClearingHouse's PositionChanged events.

Usage::

    adapter = PerpCurieAdapter()
    [state] = adapter.read(chain, [entry], block)
    q = adapter.quote(state, Side.SELL, 10**18)
    tx = adapter.build_open(state, Side.SELL, 10**18, q.quote_amount_raw * 995 // 1000, deadline)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from eth_typing import HexStr
from hexbytes import HexBytes
from pydantic import BaseModel
from web3.exceptions import ContractLogicError, Web3Exception
from web3.types import BlockIdentifier, TxParams

from adapters.contract import (
    ANY_CODE,
    LinkCheck,
    LinkKind,
    RoleAddress,
    RoleCheck,
    VenueChecks,
    VenueContracts,
    ViewCall,
)
from adapters.perp_curie.config import PerpCurieConfig
from adapters.perp_curie.events import decode_position_changed
from adapters.perp_curie.reader import MarketRead, MarketRequest, market_stages
from adapters.perp_curie.swap import curie_trade
from adapters.perps import PerpEntry, PerpFill, PerpMarketState, PerpQuote
from adapters.positions import PerpPosition
from adapters.rpc import Stages, calldata, checksum_address, decode, run_stages
from adapters.types import ChainContext, Side, TxRequest
from adapters.uniswap.artifacts import artifact_code
from adapters.uniswap.curve import CurveCache
from adapters.uniswap_v3.curve import cached_curve_of
from adapters.uniswap_v3.pool import OutOfWindow, PoolModel
from adapters.uniswap_v3.reader import HintCache
from crosshedge import AdapterError, InputError, QuoteOutOfRangeError

OPEN_POSITION = "openPosition((address,bool,bool,uint256,uint256,uint256,uint160,bytes32))"
CLOSE_POSITION = "closePosition((address,uint160,uint256,uint256,bytes32))"
DEPOSIT = "deposit(address,uint256)"
WITHDRAW = "withdraw(address,uint256)"
RATIO = 1_000_000  # Curie's ratios are in 1e6
E18 = 10**18
_NO_REFERRAL = bytes(32)


def _config(entry: PerpEntry) -> PerpCurieConfig:
    if not isinstance(entry.config, PerpCurieConfig):
        raise AdapterError(f"chain {entry.chain}: perps.{entry.name} is not a perp_curie section")
    return entry.config


def _where(state: PerpMarketState) -> str:
    return f"chain {state.chain}: market {state.market}"


def pool_model(state: PerpMarketState) -> PoolModel:
    """The vAMM's exact model from a state's ``pool`` (a window of its tick bitmap, as the V3 adapter keeps it)."""
    p = state.pool
    lo, hi = p["word_range"]
    bitmap = dict.fromkeys(range(lo, hi + 1), 0)
    bitmap.update({int(w): int(v) for w, v in p["bitmap"]})
    return PoolModel(sqrt_price_x96=int(p["sqrt_price_x96"]), tick=int(p["tick"]), liquidity=int(p["liquidity"]),
                     fee=int(p["fee"]), tick_spacing=int(p["tick_spacing"]), bitmap=bitmap,
                     liquidity_net={int(t): int(n) for t, n in p["ticks"]}, word_range=(lo, hi), venue=_where(state))


class PerpCurieAdapter:
    """Perp adapter for Curie markets (see module docstring)."""

    name: ClassVar[str] = "perp_curie"
    kind: ClassVar[Literal["perp"]] = "perp"
    config_model: ClassVar[type[BaseModel]] = PerpCurieConfig

    def __init__(self) -> None:
        self._hints = HintCache()  # which vAMM words a repeated read fetches in its first round (never a value)
        self._curves = CurveCache()

    def contracts(self, entry: PerpEntry) -> VenueContracts:
        """The Vault is the collateral approval's spender; trades call the ClearingHouse; reads touch the rest."""
        c = _config(entry)
        read = {"clearing_house": c.clearing_house, "vault": c.vault, "exchange": c.exchange,
                "account_balance": c.account_balance, "market_registry": c.market_registry,
                "clearing_house_config": c.clearing_house_config, "base_token": c.base_token, "pool": c.pool}
        return VenueContracts(spender=c.vault, called={"clearing_house": c.clearing_house, "vault": c.vault},
                              read=read)

    def verification(self, entry: PerpEntry) -> VenueChecks:
        """The vAMM must hold UniswapV3Pool's code (its immutables masked) over the market's virtual tokens; Curie's
        own contracts sit behind upgradeable proxies in production, so they need code (and are pinned exactly by
        ``code_hashes``, as the devnet writes them), and the links Curie makes tie them together: the
        ClearingHouse's Vault, Exchange, AccountBalance, config and quote token are the configured ones, the
        Exchange's registry lists the configured pool for the base token, the Vault settles in a configured token."""
        c = _config(entry)
        roles = {role: RoleCheck(address=address, code=ANY_CODE) for role, address in (
            ("clearing_house", c.clearing_house), ("vault", c.vault), ("exchange", c.exchange),
            ("account_balance", c.account_balance), ("market_registry", c.market_registry),
            ("clearing_house_config", c.clearing_house_config), ("base_token", c.base_token),
            ("quote_token", c.quote_token))}
        roles["pool"] = RoleCheck(address=c.pool, code=artifact_code("UniswapV3Pool", (
            "factory", "token0", "token1", "fee", "tickSpacing", "maxLiquidityPerTick", "its own address")))

        def link(role: str, signature: str, value: str, says: str, *args: RoleAddress) -> LinkCheck:
            return LinkCheck(call=ViewCall(role=role, signature=signature, args=args), expect=LinkKind.EQUALS,
                             value=RoleAddress(role=value), says=says)

        links = (
            link("clearing_house", "getVault()", "vault", "the configured Vault"),
            link("clearing_house", "getExchange()", "exchange", "the configured Exchange"),
            link("clearing_house", "getAccountBalance()", "account_balance", "the configured AccountBalance"),
            link("clearing_house", "getClearingHouseConfig()", "clearing_house_config",
                 "the configured ClearingHouseConfig"),
            link("clearing_house", "getQuoteToken()", "quote_token", "the configured quote token"),
            link("exchange", "getMarketRegistry()", "market_registry", "the configured MarketRegistry"),
            link("market_registry", "getPool(address)", "pool", "the configured vAMM pool",
                 RoleAddress(role="base_token")),
            link("pool", "token0()", "base_token", "the market's base token (Curie's base is token0)"),
            link("pool", "token1()", "quote_token", "the market's quote token"),
            LinkCheck(call=ViewCall(role="vault", signature="getSettlementToken()"), expect=LinkKind.CONFIGURED_TOKEN,
                      says="a token configured on this chain", note="the Vault's collateral"),
        )
        return VenueChecks(roles=roles, links=links)

    def tokens(self, entry: PerpEntry) -> tuple[str, ...]:
        return (_config(entry).collateral,)

    def underlying(self, entry: PerpEntry) -> str:
        return _config(entry).underlying

    # ------------------------------------------------------------------ reads

    def read(self, chain: ChainContext, markets: Sequence[PerpEntry], block: int) -> list[PerpMarketState]:
        """Every given market and the wallet's account in it at ``block``: at most 3 round trips with a multicall
        (reader.MAX_ROUND_TRIPS); HeadMovedError when a round ran at another block."""
        if not markets:
            return []
        _, [states] = run_stages(chain.w3, [self.read_stages(chain, markets)], block, chain.multicall, chain.name)
        return list(states)

    def read_stages(self, chain: ChainContext, markets: Sequence[PerpEntry]) -> Stages:
        """:meth:`read` as a staged reader, to merge its rounds with other adapters' (adapters.rpc.run_stages)."""
        requests = [MarketRequest(m.name, _config(m)) for m in markets]
        reads = yield from market_stages(chain, requests, self._hints)
        return [self._state(chain, r) for r in reads]

    def _state(self, chain: ChainContext, r: MarketRead) -> PerpMarketState:
        c, v, m = r.request.config, r.values, r.pool.model
        where = f"chain {chain.name}: market {r.request.market}"
        pool, exchange_fee, uniswap_fee, if_fee, _spread = v["market_info"]
        if checksum_address(pool) != checksum_address(c.pool):
            raise AdapterError(f"{where}: the MarketRegistry's pool for {c.base_token} is {pool}, not the configured "
                               f"{c.pool}")
        if checksum_address(r.pool.token0.address) != checksum_address(c.base_token):
            raise AdapterError(f"{where}: the vAMM's token0 is {r.pool.token0.address}, not the base token")
        if checksum_address(v["settlement_token"]) != r.collateral.address:
            raise AdapterError(f"{where}: the Vault settles in {v['settlement_token']}, not {c.collateral} "
                               f"({r.collateral.address})")
        if int(uniswap_fee) != m.fee:
            raise AdapterError(f"{where}: the registry's Uniswap fee {uniswap_fee} is not the pool's {m.fee}")
        index, index_twap = int(v["index"]) / E18, int(v["index_twap"]) / E18
        market_twap = (int(v["sqrt_market_twap"]) / 2**96) ** 2
        cap = int(v["max_funding"]) / RATIO
        funding = max(-cap, min(cap, (market_twap - index_twap) / index_twap)) if index_twap > 0 else 0.0
        curve_model = dataclasses.replace(m, fee=int(exchange_fee))  # the exchange fee takes the pool fee's place
        pool_state: dict[str, Any] = {
            "address": r.pool.address, "token0": r.pool.token0.address, "token1": r.pool.token1.address,
            "sqrt_price_x96": m.sqrt_price_x96, "tick": m.tick, "liquidity": m.liquidity, "fee": m.fee,
            "tick_spacing": m.tick_spacing, "word_range": list(m.word_range),
            "bitmap": [[w, b] for w, b in sorted(m.bitmap.items()) if b],
            "ticks": [[t, n] for t, n in sorted(m.liquidity_net.items())],
            "exchange_fee": int(exchange_fee), "max_price_spread_ratio": int(_spread),
        }
        state = PerpMarketState(
            chain=chain.name, chain_id=chain.chain_id, market=r.request.market, adapter=self.name,
            block_number=r.pool.block_number, block_timestamp=r.pool.block_timestamp, underlying=c.underlying,
            base_token=checksum_address(c.base_token), quote_token=checksum_address(c.quote_token),
            collateral=r.collateral, clearing_house=checksum_address(c.clearing_house),
            vault=checksum_address(c.vault), market_price=(m.sqrt_price_x96 / 2**96) ** 2,  # 18 decimals both
            mark_price=int(v["mark"]) / E18, market_twap_price=market_twap,
            index_price=index, index_twap_price=index_twap, twap_interval_s=int(v["twap_interval"]),
            daily_funding_rate=funding, max_funding_rate=cap, exchange_fee_ratio=int(exchange_fee) / RATIO,
            uniswap_fee_ratio=int(uniswap_fee) / RATIO, insurance_fund_fee_ratio=int(if_fee) / RATIO,
            mm_ratio=int(v["mm_ratio"]) / RATIO, im_ratio=int(v["im_ratio"]) / RATIO,
            max_ticks_crossed=int(v["max_ticks"]), gas_units=c.trade_gas, pool=pool_state,
            sell=cached_curve_of(self._curves, curve_model, True, Side.SELL, 18, 18),
            buy=cached_curve_of(self._curves, curve_model, False, Side.BUY, 18, 18),
        )
        if r.account is None:
            return state
        return state.model_copy(update=self._account(state, r))

    def _account(self, state: PerpMarketState, r: MarketRead) -> dict[str, Any]:
        v, unit = r.values, 10**r.collateral.decimals
        owed_realized, _unrealized, pending_fee = v["pnl"]
        # The collateral as Curie values it: the Vault balance with realized PnL and maker fees not yet settled.
        collateral = int(v["balance"]) / unit + (int(owed_realized) + int(pending_fee)) / E18
        position = PerpPosition(
            underlying=state.underlying, size=int(v["size"]) / E18, open_notional=int(v["open_notional"]) / E18,
            collateral_usd=max(collateral, 0.0), owed_funding_usd=int(v["funding"]) / E18,
            mark_price=state.mark_price, index_price=state.index_price, daily_funding_rate=state.daily_funding_rate,
            mm_ratio=state.mm_ratio, im_ratio=state.im_ratio, chain=state.chain, market=state.market,
            block_number=state.block_number, source=self.name,
        )
        return {"account": r.account, "position": position, "free_collateral_usd": int(v["free_collateral"]) / unit,
                "account_value_usd": int(v["account_value"]) / E18}

    # ------------------------------------------------------------------ quotes and calls

    def quote(self, state: PerpMarketState, side: Side, base_amount: int) -> PerpQuote:
        """Exactly what ``openPosition`` returns for a short (SELL) or long (BUY) of ``base_amount`` raw base units
        at the read block; QuoteOutOfRangeError past the read window or Curie's tick cap for one block."""
        if base_amount <= 0:
            raise InputError(f"{_where(state)}: the base amount must be positive, got {base_amount}")
        try:
            trade = curie_trade(pool_model(state), True, side is Side.SELL, base_amount,
                                int(state.pool["exchange_fee"]))
        except OutOfWindow as exc:
            raise QuoteOutOfRangeError(f"{_where(state)}: a {side.value} of {base_amount} raw base runs past the "
                                       f"vAMM ticks read at block {state.block_number} ({exc})") from None
        except ArithmeticError as exc:
            raise AdapterError(f"{_where(state)}: {exc}") from None
        moved = abs(trade.tick - int(state.pool["tick"]))
        if not trade.complete or moved > state.max_ticks_crossed:
            raise QuoteOutOfRangeError(
                f"{_where(state)}: a {side.value} of {base_amount} raw base moves the vAMM {moved} ticks, past "
                f"Curie's cap of {state.max_ticks_crossed} per block (it reverts EX_OPLAS)" if trade.complete else
                f"{_where(state)}: a {side.value} of {base_amount} raw base is more than the vAMM holds")
        price = trade.quote / trade.base * 10 ** (state.base_decimals - state.quote_decimals) if trade.base else 0.0
        return PerpQuote(market=state.market, side=side, base_amount_raw=base_amount, quote_amount_raw=trade.quote,
                         fee_raw=trade.fee, exchanged_position_size=trade.exchanged_position_size,
                         exchanged_position_notional=trade.exchanged_position_notional, price=price,
                         sqrt_price_x96_after=trade.sqrt_price_x96, tick_after=trade.tick,
                         ticks_crossed=trade.crossed)

    def build_open(self, state: PerpMarketState, side: Side, amount: int, opposite_amount_bound: int,
                   deadline: int) -> TxRequest:
        """openPosition of exactly ``amount`` raw base: a short is base-to-quote exact input (the bound is the least
        quote received), a long quote-to-base exact output (the bound is the most quote paid). The bound must be
        positive: Curie skips its check for a zero bound, which would accept any price."""
        if amount <= 0 or opposite_amount_bound <= 0:
            raise InputError(f"{_where(state)}: amount and opposite_amount_bound must be positive (got {amount}, "
                             f"{opposite_amount_bound}); a zero bound would accept any price")
        short = side is Side.SELL
        params = (state.base_token, short, short, amount, opposite_amount_bound, deadline, 0, _NO_REFERRAL)
        what = f">= {opposite_amount_bound} quote" if short else f"<= {opposite_amount_bound} quote"
        return TxRequest(chain_id=state.chain_id, to=state.clearing_house, data=calldata(OPEN_POSITION, params),
                         description=f"{state.market}: {'short' if short else 'long'} {amount} base for {what}")

    def build_close(self, state: PerpMarketState, opposite_amount_bound: int, deadline: int) -> TxRequest:
        """closePosition of the account's whole position as read (a long sells its base: the bound is the least
        quote received; a short buys it back: the most quote paid)."""
        position = self.position(state)
        if position.size == 0:
            raise InputError(f"{_where(state)}: the account {state.account} has no position to close")
        if opposite_amount_bound <= 0:
            raise InputError(f"{_where(state)}: opposite_amount_bound must be positive, got {opposite_amount_bound}")
        params = (state.base_token, 0, opposite_amount_bound, deadline, _NO_REFERRAL)
        return TxRequest(chain_id=state.chain_id, to=state.clearing_house, data=calldata(CLOSE_POSITION, params),
                         description=f"{state.market}: close {position.size:+g} base, bound {opposite_amount_bound}")

    def build_deposit(self, entry: PerpEntry, token: str, amount_raw: int) -> TxRequest:
        """Vault.deposit of ``amount_raw`` of ``token`` (after an exact approval of the Vault)."""
        return self._vault_call(entry, DEPOSIT, "deposit", token, amount_raw)

    def build_withdraw(self, entry: PerpEntry, token: str, amount_raw: int) -> TxRequest:
        """Vault.withdraw of ``amount_raw`` of ``token`` to the sender (at most its free collateral)."""
        return self._vault_call(entry, WITHDRAW, "withdraw", token, amount_raw)

    def _vault_call(self, entry: PerpEntry, signature: str, verb: str, token: str, amount_raw: int) -> TxRequest:
        if amount_raw <= 0:
            raise InputError(f"chain {entry.chain}: market {entry.name}: a {verb} amount must be positive, got "
                             f"{amount_raw}")
        if entry.chain_id <= 0:
            raise InputError(f"chain {entry.chain}: market {entry.name}: the entry has no chain id")
        c = _config(entry)
        return TxRequest(chain_id=entry.chain_id, to=checksum_address(c.vault),
                         data=calldata(signature, checksum_address(token), amount_raw),
                         description=f"{entry.name}: vault {verb} {amount_raw} {c.collateral}")

    def parse_fills(self, market: PerpMarketState | PerpEntry, receipt: Mapping[str, Any]) -> list[PerpFill]:
        """The market's PositionChanged events in ``receipt`` (from its ClearingHouse, for its base token)."""
        if isinstance(market, PerpMarketState):
            chain, name, house, base = market.chain, market.market, market.clearing_house, market.base_token
        else:
            c = _config(market)
            chain, name, house, base = market.chain, market.name, c.clearing_house, c.base_token
        if int(receipt["status"]) != 1:
            tx = "0x" + bytes(HexBytes(receipt["transactionHash"])).hex()
            raise AdapterError(f"chain {chain}: market {name}: transaction {tx} reverted")
        return decode_position_changed(receipt, house, base, chain, name)

    def position(self, state: PerpMarketState) -> PerpPosition:
        """The account's position as read; AdapterError when the read had no wallet."""
        if state.position is None:
            raise AdapterError(f"{_where(state)}: the read had no account (the chain context names no wallet)")
        return state.position


def simulate(chain: ChainContext, market: str, tx: TxRequest, sender: str,
             block: BlockIdentifier = "latest") -> tuple[int, int]:
    """(base, quote) an order ``tx`` built by the adapter returns when ``sender`` calls it at ``block`` (eth_call);
    AdapterError naming the chain, the market and Curie's revert reason (``CH_TLRS``: too little received...)."""
    params: TxParams = {"from": checksum_address(sender), "to": checksum_address(tx.to), "data": HexStr(tx.data)}
    try:
        raw = chain.w3.eth.call(params, block)
    except ContractLogicError as exc:
        raise AdapterError(f"chain {chain.name}: market {market}: the order reverts ({exc.message})") from None
    except (Web3Exception, ValueError) as exc:
        raise AdapterError(f"chain {chain.name}: market {market}: the order could not be simulated ({exc})") from None
    base, quote = decode(("uint256", "uint256"), bytes(raw))
    return int(base), int(quote)


__all__ = ["CLOSE_POSITION", "DEPOSIT", "OPEN_POSITION", "WITHDRAW", "PerpCurieAdapter", "pool_model", "simulate"]
