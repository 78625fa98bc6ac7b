"""What a plan's transfers become (the deposit intents on their origins' lanes) and the funds already arriving, by
chain and symbol, as a plan counts them.

Usage::

    intents = intents_from_transfers(ctx, run_id, plan.transfers, seq={})
    arriving = arriving_by_symbol(config, snap, ledger.transfers(), fill_checker(ctx))
"""

from __future__ import annotations

from collections.abc import Sequence

from web3 import Web3

from crosshedge.config import Config
from optimizer import PlannedTransfer
from orchestrator.context import RunContext
from orchestrator.ledger import Intent, IntentKind, TransferRecord, lane_name
from orchestrator.snapshot import Snapshot
from orchestrator.transfers import FilledBy, arriving, route_of


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


__all__ = ["arriving_by_symbol", "intents_from_transfers"]
