"""Small helpers shared by the adapter integration tests: contexts, reads, sending as an unlocked account."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from adapters import ChainContext, RoundTripCounter, VenueState, calldata, connect, default_registry
from crosshedge.config import Config
from orchestrator import chain_context


def context(config: Config, chain: str, counter: RoundTripCounter | None = None) -> ChainContext:
    return chain_context(config, chain, connect(chain, config.chains[chain], timeout=30, counter=counter))


def read_venues(config: Config, ctx: ChainContext, adapter: str, block: int | None = None) -> list[VenueState]:
    entries = [v for v in config.venues_on(ctx.name) if v.adapter == adapter]
    at = block if block is not None else ctx.w3.eth.block_number
    return default_registry().venue(adapter).read(ctx, entries, at)


def send(w3: Web3, sender: str, to: str, data: str, gas: int = 3_000_000) -> Any:
    """Send from an anvil-unlocked account and wait for the receipt."""
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to, "data": data, "gas": gas})  # type: ignore[typeddict-item]
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, f"transaction to {to} reverted"
    return receipt


def approve(w3: Web3, owner: str, token: str, spender: str) -> None:
    send(w3, owner, token, calldata("approve(address,uint256)", spender, 2**256 - 1), gas=100_000)


def balance(w3: Web3, token: str, holder: str) -> int:
    raw = w3.eth.call({"to": token, "data": calldata("balanceOf(address)", holder)})  # type: ignore[typeddict-item]
    return int.from_bytes(raw, "big")
