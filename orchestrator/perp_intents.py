"""A plan's perp trades as ledger intents: per trade, the margin it needs moved into the Vault, then the order.

A trade that grows a position needs free collateral for its initial margin; when the account's free collateral
(as the snapshot read it) is short of ``im_ratio · |size after| · mark`` less what the position already holds,
plus the trade's fee and impact, plus ``execution.perp_margin_buffer`` of that margin, the difference is deposited
first (an exact approval of the Vault, then ``Vault.deposit``) from the wallet's collateral on that chain. A wallet
that lacks it drops the trade whole (a ``breaker`` event naming the market and the amount): a perp order is never
sent half funded. A reducing trade needs no deposit.

A reducing trade that leaves the position flat (dust at most: :func:`closes`) is recorded as a close
(``Intent.close``): it is sent as the venue's closePosition, so what the account holds at execution is
closed exactly and no dust position is left behind (orchestrator.perp_terms).

Usage::

    intents = intents_from_perp_trades(ctx, run_id, snap, plan.perp_trades, seq, bad_chains)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from web3 import Web3

from adapters import PerpMarketState, Side
from optimizer import PlannedPerpTrade
from orchestrator.context import RunContext
from orchestrator.ledger import Intent, IntentKind, lane_name
from orchestrator.snapshot import Snapshot

#: A planned size after this small is flat (base units, absolute; or relative to the size before, whichever is
#: larger): the solver reaches 0 only to its feasibility tolerance, and a float size only to its last bits.
CLOSE_DUST = 1e-9
CLOSE_DUST_RATIO = 1e-6


def closes(trade: PlannedPerpTrade) -> bool:
    """True when ``trade`` flattens its position: it reduces (never grows or flips it) and leaves dust at most."""
    return not trade.grows and abs(trade.size_after) <= max(CLOSE_DUST, CLOSE_DUST_RATIO * abs(trade.size_before))


def perp_state(snap: Snapshot, chain: str, market: str) -> PerpMarketState | None:
    """The market as the run's snapshot read it (None when the snapshot lacks it)."""
    cs = snap.chains.get(chain)
    return next((p for p in cs.perps if p.market == market), None) if cs is not None else None


def margin_needed_usd(state: PerpMarketState, trade: PlannedPerpTrade, buffer: float) -> float:
    """USD the account must add to its free collateral before ``trade`` (0 when it has enough, or the trade does
    not grow the position): the initial margin the growth takes, the trade's cost, and ``buffer`` of the margin
    after it, less the free collateral it has now."""
    if not trade.grows:
        return 0.0
    size_now = state.position.size if state.position is not None else 0.0
    after = abs(size_now + trade.signed_amount)
    margin_after = state.im_ratio * after * state.mark_price
    growth = state.im_ratio * max(0.0, after - abs(size_now)) * state.mark_price
    free = state.free_collateral_usd or 0.0
    return max(0.0, growth + trade.fee_usd + max(0.0, trade.impact_usd) + buffer * margin_after - free)


def _why_not(state: PerpMarketState | None, snap: Snapshot, trade: PlannedPerpTrade) -> str | None:
    cs = snap.chains.get(trade.chain)
    if cs is None:
        return f"chain {trade.chain} could not be read"
    if trade.market in cs.refused_perps:
        return cs.refused_perps[trade.market]
    if state is None:
        return f"market {trade.market} is not in the snapshot of chain {trade.chain}"
    if state.account is None:
        return f"the snapshot read no account of the wallet in {trade.key}"
    return None


def intents_from_perp_trades(ctx: RunContext, run_id: str, snap: Snapshot, trades: Sequence[PlannedPerpTrade],
                             seq: dict[str, int], bad_chains: set[str]) -> list[Intent]:
    """Turn planned perp trades into intents (approve + perp_deposit when margin is short, then perp_order), each
    on its chain's lane after what ``seq`` says the lane has already; a trade that cannot go ahead is dropped with
    a ``breaker`` event."""
    out: list[Intent] = []
    slip = ctx.execution.slippage_bps / 1e4
    for trade in trades:
        state = perp_state(snap, trade.chain, trade.market)
        why = _why_not(state, snap, trade)
        if why is None and trade.chain in bad_chains:
            why = f"chain {trade.chain}: a circuit breaker tripped (gas cap)"
        if why is not None or state is None:
            ctx.ledger.add_event(run_id, "breaker", f"perp trade on {trade.key} dropped: {why}", chain=trade.chain,
                                 venue=trade.key)
            continue
        chain, wallet = trade.chain, ctx.config.chains[trade.chain].wallet
        lane = lane_name(chain, wallet)
        collateral = Web3.to_checksum_address(state.collateral.address)
        need_usd = margin_needed_usd(state, trade, ctx.execution.perp_margin_buffer)
        need_raw = math.ceil(need_usd * 10**state.collateral.decimals) if need_usd > 0 else 0
        held = next((p.raw for p in snap.chains[chain].inventory
                     if Web3.is_address(p.address) and Web3.to_checksum_address(p.address) == collateral), 0)
        if need_raw > held:
            ctx.ledger.add_event(
                run_id, "breaker", f"perp trade on {trade.key} dropped: its margin needs a deposit of "
                f"{need_raw / 10**state.collateral.decimals:,.2f} {state.collateral.symbol} and the wallet holds "
                f"{held / 10**state.collateral.decimals:,.2f} on {chain}", chain=chain, venue=trade.key)
            continue
        n = seq.get(lane, 0)
        common = {"run_id": run_id, "chain": chain, "wallet": wallet, "sender": ctx.wallet_address(chain),
                  "venue": trade.market, "adapter": state.adapter, "underlying": trade.underlying}
        if need_raw > 0:
            vault = Web3.to_checksum_address(state.vault)
            deposit = {"token_in": collateral, "amount_in_raw": need_raw, "spender": vault,
                       "notional_usd": need_raw / 10**state.collateral.decimals, **common}
            out.append(Intent(id=f"{run_id}.{lane}.{n:03d}.approve", seq=n, kind=IntentKind.APPROVE,
                              target=collateral, **deposit))
            out.append(Intent(id=f"{run_id}.{lane}.{n + 1:03d}.perp_deposit", seq=n + 1,
                              kind=IntentKind.PERP_DEPOSIT, target=vault, **deposit))
            n += 2
        quote_raw = round(trade.quote_amount * 10**state.quote_decimals)
        bound = (math.floor(quote_raw * (1 - slip)) if trade.side is Side.SELL else math.ceil(quote_raw * (1 + slip)))
        out.append(Intent(
            id=f"{run_id}.{lane}.{n:03d}.perp_order", seq=n, kind=IntentKind.PERP_ORDER,
            target=Web3.to_checksum_address(state.clearing_house), token_in=Web3.to_checksum_address(state.base_token),
            token_out=Web3.to_checksum_address(state.quote_token),
            amount_in_raw=round(trade.base_amount * 10**state.base_decimals), side=trade.side,
            min_amount_out_raw=max(1, bound), expected_amount_out_raw=quote_raw, base_amount=trade.base_amount,
            quote_amount=trade.quote_amount, notional_usd=trade.base_amount * state.mark_price,
            predicted_cost_usd=trade.cost_usd, predicted_gas_usd=trade.gas_usd, close=closes(trade), **common))
        seq[lane] = n + 1
    return out


__all__ = ["CLOSE_DUST", "CLOSE_DUST_RATIO", "closes", "intents_from_perp_trades", "margin_needed_usd", "perp_state"]
