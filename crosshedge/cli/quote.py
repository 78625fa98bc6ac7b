"""`crosshedge quote --pool-state FILE --side buy|sell --amount-in RAW [--json]`: an exact quote, no chain needed.

FILE is a recorded pool state (README, "Recorded pool states"; written by ``crosshedge venues --save-state DIR``).
The venue's own adapter quotes it exactly as the chain would (QuoterV2 for V3, the router's getAmountsOut for V2):
the input the swap consumes (less than RAW on a partial fill, when the pool's liquidity ends first), the output,
the price after and the initialized ticks crossed.

Usage::

    crosshedge quote --pool-state states/ethereum.v3_weth_usdc_500.json --side sell --amount-in 1000000000000000000
    crosshedge quote --pool-state states/base.v2_weth_usdc.json --side buy --amount-in 5000000000 --json

Exit codes: 0 quoted, 1 the file is unreadable or invalid (one sentence naming the file and field), 2 bad usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from adapters import PoolState, Side, SwapQuote, default_registry, load_pool_state
from crosshedge.cli.common import JsonOption
from crosshedge.cli.output import UsageError, command_errors, emit, warn
from crosshedge.errors import CrosshedgeError, InputError

StateOption = Annotated[Path, typer.Option("--pool-state", help="A recorded pool state JSON (venues --save-state).")]
SideOption = Annotated[Side, typer.Option("--side", help="sell gives the base token (WETH), buy receives it.")]
AmountOption = Annotated[str, typer.Option("--amount-in", help="Exact input in raw units of the token paid in.")]


def _amount(text: str) -> int:
    # Raw amounts outgrow 64 bits (10**30 wei), and a float would round them: an exact decimal integer only.
    if not text.isdigit() or int(text) <= 0:
        raise UsageError(f"quote: --amount-in must be a positive integer of raw units, got {text!r}")
    return int(text)


def quote_state(path: Path, record: PoolState, side: Side, amount_in: int) -> SwapQuote:
    """The venue adapter's exact quote of ``record`` (the adapter named by its protocol)."""
    try:
        adapter = default_registry().pool_state_venue(record.protocol)
    except CrosshedgeError:
        adapter = None
    if adapter is None:
        raise InputError(f"{path}: protocol: {record.protocol} states are recorded but not quoted yet "
                         "(no installed adapter quotes them)")
    return adapter.quote_pool_state(record, side, amount_in)


def quote_row(path: Path, record: PoolState, quote: SwapQuote) -> dict[str, Any]:
    """The --json document: what was quoted, on which venue at which block, and the quote."""
    paid, got = (record.base_token, record.quote_token) if quote.side is Side.SELL else \
        (record.quote_token, record.base_token)
    return {
        "file": str(path), "protocol": record.protocol, "chain": record.chain, "venue": record.venue,
        "block_number": record.block_number, "side": quote.side.value, "token_in": paid.symbol,
        "token_out": got.symbol, "amount_requested": quote.amount_requested, "amount_in": quote.amount_in,
        "amount_out": quote.amount_out, "price_after": quote.price_after, "ticks_crossed": quote.ticks_crossed,
        "partial": quote.partial, "sqrt_price_x96_after": quote.sqrt_price_x96_after, "tick_after": quote.tick_after,
        "amount_in_human": quote.amount_in / 10**paid.decimals, "amount_out_human": quote.amount_out / 10**got.decimals,
    }


def quote_table(row: dict[str, Any]) -> Table:
    table = Table(title=f"{row['chain']}/{row['venue']} ({row['protocol']}) at block {row['block_number']}: "
                        f"{row['side']} {row['token_in']} for {row['token_out']}")
    table.add_column("", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    table.add_row("amount in (consumed)", f"{row['amount_in']} raw = {row['amount_in_human']:,.6g} {row['token_in']}")
    table.add_row("amount out", f"{row['amount_out']} raw = {row['amount_out_human']:,.6g} {row['token_out']}")
    table.add_row("price after", f"{row['price_after']:,.6g}")
    table.add_row("ticks crossed", str(row["ticks_crossed"]))
    table.add_row("partial fill", "yes" if row["partial"] else "no")
    return table


def quote(pool_state: StateOption, side: SideOption, amount_in: AmountOption, json_output: JsonOption = False) -> None:
    """Quote an exact-in swap on a recorded pool state, exactly as the chain would (no chain needed)."""
    with command_errors():
        amount = _amount(amount_in)
        record = load_pool_state(pool_state)
        result = quote_state(pool_state, record, side, amount)
        row = quote_row(pool_state, record, result)
        if result.partial and not json_output:
            warn(f"partial fill: the pool's liquidity ends after {result.amount_in} of the {amount} raw units asked")
        emit(row, json_output, quote_table(row))


def register(app: typer.Typer) -> None:
    app.command("quote")(quote)
