"""What a plan's transfers become (the deposit intents on their origins' lanes) and the funds already arriving, by
chain and symbol, as a plan counts them.

Usage::

    routes = transfer_options(config, registry, snap)          # the problem's bridge routes, quoted at the snapshot
    intents = intents_from_transfers(ctx, run_id, plan.transfers, seq={})
    arriving = arriving_by_symbol(config, snap, ledger.transfers(), fill_checker(ctx))
"""

from __future__ import annotations

from collections.abc import Sequence

from web3 import Web3

from adapters import AdapterRegistry
from crosshedge import AdapterError, InputError
from crosshedge.config import Config
from optimizer import PlannedTransfer, TransferOption
from orchestrator.context import RunContext
from orchestrator.ledger import Intent, IntentKind, TransferRecord, lane_name
from orchestrator.snapshot import Snapshot
from orchestrator.transfers import FilledBy, arriving, route_of, transfer_routes
from risk import CASH_UNDERLYINGS, marks_from_venues

#: Gas of the exact ERC20 approval each deposit is preceded by (a cold allowance slot written from zero).
APPROVE_GAS = 46_000


def arriving_by_symbol(config: Config, snap: Snapshot, records: Sequence[TransferRecord],
                       filled_by: FilledBy) -> dict[str, dict[str, float]]:
    """Funds in flight as of the snapshot's blocks, in human units by chain and symbol (the problem's
    ``arriving``)."""
    blocks = {c: cs.block_number for c, cs in snap.chains.items()}
    times = {c: cs.block_timestamp for c, cs in snap.chains.items()}
    out: dict[str, dict[str, float]] = {}
    for (chain, address), raw in arriving(records, blocks, times, filled_by).items():
        token = config.tokens(chain).get(Web3.to_checksum_address(address))
        if token is not None:
            book = out.setdefault(chain, {})
            book[token.symbol] = book.get(token.symbol, 0.0) + raw / 10**token.decimals
    return out


def transfer_options(config: Config, registry: AdapterRegistry, snap: Snapshot,
                     refused: dict[str, str] | None = None) -> list[TransferOption]:
    """Every configured route between two chains the snapshot read, with the fee schedule its adapter quotes (on
    one whole token), origin gas in USD at the snapshot's gas price (approval + deposit, plus the rollup's L1 fee
    for each), the expected fill latency and the route's limit. A route whose section the snapshot refused, whose
    token has no price, or whose quote fails is left out (``refused`` gets why, by route key)."""
    marks = marks_from_venues(snap.venue_states())
    out: list[TransferOption] = []
    for route in transfer_routes(config, registry):
        origin, destination = snap.chains.get(route.origin.chain), snap.chains.get(route.destination.chain)
        if origin is None or destination is None or origin.inventory_error is not None:
            continue
        why = origin.refused_transfers.get(route.origin.name) or destination.refused_transfers.get(
            route.destination.name)
        underlying = route.token_in.underlying
        price = 1.0 if underlying in CASH_UNDERLYINGS else marks.get(underlying)
        if why is None and price is None:
            why = f"no venue prices {underlying}"
        if why is None:
            try:
                quote = registry.transfer(route.origin.adapter).quote(route, 10**route.token_in.decimals)
            except (AdapterError, InputError) as exc:
                why = str(exc)
        if why is not None:
            if refused is not None:
                refused[route.key] = why
            continue
        assert price is not None
        gas = ((quote.gas_units + APPROVE_GAS) * origin.gas_price_wei / 1e18 * origin.native_usd
               + 2 * origin.l1_data_fee_usd)
        out.append(TransferOption(
            adapter=route.origin.adapter, origin=route.origin.chain, destination=route.destination.chain,
            symbol=route.token_in.symbol, decimals=route.token_in.decimals, price_usd=price, fee_bps=quote.fee_bps,
            fixed_fee_raw=quote.fixed_fee_raw, gas_usd=gas, latency_s=quote.expected_fill_s,
            max_amount_raw=quote.max_amount_raw))
    return out


def intents_from_transfers(ctx: RunContext, run_id: str, transfers: Sequence[PlannedTransfer],
                           seq: dict[str, int]) -> list[Intent]:
    """Per planned transfer, on the origin's lane: the exact approval of the bridge's spender, then the deposit.
    The output the deposit asks for is the adapter's exact quote of the raw amount (never the plan's float)."""
    out: list[Intent] = []
    for t in transfers:
        route = route_of(ctx.config, ctx.registry, t.adapter, t.origin, t.destination, t.symbol)
        adapter = ctx.registry.transfer(t.adapter)
        quote = adapter.quote(route, t.amount_raw)
        spender = Web3.to_checksum_address(adapter.contracts(route.origin).spender)
        wallet = ctx.config.chains[t.origin].wallet
        lane = lane_name(t.origin, wallet)
        n = seq.get(lane, 0)
        seq[lane] = n + 2
        common = {"run_id": run_id, "chain": t.origin, "wallet": wallet, "sender": ctx.wallet_address(t.origin),
                  "token_in": route.token_in.address, "amount_in_raw": t.amount_raw, "adapter": t.adapter,
                  "notional_usd": t.amount * t.price_usd}
        out.append(Intent(id=f"{run_id}.{lane}.{n:03d}.approve", seq=n, kind=IntentKind.APPROVE,
                          target=route.token_in.address, spender=spender, **common))
        out.append(Intent(id=f"{run_id}.{lane}.{n + 1:03d}.deposit", seq=n + 1, kind=IntentKind.DEPOSIT,
                          target=spender, token_out=route.token_out.address, min_amount_out_raw=quote.amount_out_raw,
                          expected_amount_out_raw=quote.amount_out_raw, destination=t.destination, route=route.key,
                          predicted_cost_usd=t.fee_usd + t.gas_usd, predicted_gas_usd=t.gas_usd, **common))
    return out


__all__ = ["APPROVE_GAS", "arriving_by_symbol", "intents_from_transfers", "transfer_options"]
