"""Small helpers shared by the adapter integration tests: contexts, reads, sending as an unlocked account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from eth_typing import HexStr
from web3 import Web3

from adapters import ChainContext, RoundTripCounter, VenueState, calldata, connect, default_registry
from crosshedge import HeadMovedError
from crosshedge.config import Config
from orchestrator import chain_context
from tests.integration.conftest import DEV_TX_FEES


def context(config: Config, chain: str, counter: RoundTripCounter | None = None) -> ChainContext:
    return chain_context(config, chain, connect(chain, config.chains[chain], timeout=30, counter=counter))


T = TypeVar("T")


def at_head(ctx: ChainContext, read: Callable[[int], T], attempts: int = 5) -> tuple[int, T]:
    """``read(block)`` at the chain's head, and again at the new head when a block was mined while it ran.

    The devnet's block producer mines a block every second, and anvil may answer a read pinned to the head at the
    next one: the adapters rightly refuse such a read (HeadMovedError), and a test retries as the snapshot does."""
    for _ in range(attempts - 1):
        block = int(ctx.w3.eth.block_number)
        try:
            return block, read(block)
        except HeadMovedError:
            continue
    block = int(ctx.w3.eth.block_number)
    return block, read(block)


def read_venues(config: Config, ctx: ChainContext, adapter: str, block: int | None = None) -> list[VenueState]:
    """Every ``adapter`` venue of the chain, read at ``block`` (at the head, retried if it moves, when None)."""
    entries = [v for v in config.venues_on(ctx.name) if v.adapter == adapter]
    if block is None:
        return at_head(ctx, lambda at: default_registry().venue(adapter).read(ctx, entries, at))[1]
    return default_registry().venue(adapter).read(ctx, entries, block)


def read_adapters(config: Config, ctx: ChainContext, adapters: tuple[str, ...],
                  block: int) -> dict[str, list[VenueState]]:
    """The chain's venues of each of ``adapters``, all read at ``block``."""
    return {name: read_venues(config, ctx, name, block) for name in adapters}


V3_MINT = "mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))"


def mint_narrow_positions(w3: Web3, trader: str, manager: str, pool: VenueState, count: int = 40) -> None:
    """Mint ``count`` small positions of nested widths below ``pool``'s price through the NonfungiblePositionManager:
    2·count new initialized ticks, none of them predicted by an earlier read's hints."""
    for token in (pool.pool["token0"], pool.pool["token1"]):
        approve(w3, trader, token, manager)
    spacing, tick = pool.pool["tick_spacing"], pool.pool["tick"]
    centre = tick - tick % spacing
    for i in range(count):
        lower = centre - (3 * i + 1) * spacing - spacing * 7
        params = (pool.pool["token0"], pool.pool["token1"], pool.fee_pips, lower, lower + spacing * (2 * i + 3),
                  10**12, 10**12, 0, 0, trader, pool.block_timestamp + 3600)
        send(w3, trader, manager, calldata(V3_MINT, params))


def send(w3: Web3, sender: str, to: str, data: str, gas: int = 3_000_000) -> Any:
    """Send from an anvil-unlocked account and wait for the receipt."""
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to, "data": HexStr(data), "gas": gas, **DEV_TX_FEES})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, f"transaction to {to} reverted"
    return receipt


def approve(w3: Web3, owner: str, token: str, spender: str) -> None:
    send(w3, owner, token, calldata("approve(address,uint256)", spender, 2**256 - 1), gas=100_000)


def balance(w3: Web3, token: str, holder: str) -> int:
    raw = w3.eth.call({"to": token, "data": calldata("balanceOf(address)", holder)})  # type: ignore[typeddict-item]
    return int.from_bytes(raw, "big")
