"""Uniswap V4 venues on the devnet for the adapter tests: entries built from each chain's ``uniswap_v4`` section
(the devnet's default config does not list them as venues), reads retried at a new head, V4Quoter, protocol fees."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint, Wei

from adapters import VenueEntry
from adapters.uniswap_v4 import PoolKey, UniswapV4Config, quote_exact_single
from crosshedge import HeadMovedError
from devnet import load_artifact
from devnet.v4 import v4_venue_sections
from tests.integration.conftest import DevnetHandle

T = TypeVar("T")


def v4_entries(devnet: DevnetHandle, chain: str, window_ticks: int = 4000) -> list[VenueEntry]:
    """The chain's V4 pools as ``uniswap_v4`` venues, exactly as ``devnet.v4_venues`` writes them."""
    settings = devnet.config.chains[chain]
    assert settings.uniswap_v4 is not None, f"{chain} has no uniswap_v4 section"
    sections = v4_venue_sections(settings.uniswap_v4.model_dump(), settings.tokens["WETH"].address, window_ticks)
    return [VenueEntry(name, chain, "uniswap_v4", UniswapV4Config.model_validate(
        {k: v for k, v in s.items() if k != "adapter"})) for name, s in sections.items()]


def at_new_head(w3: Web3, read: Callable[[int], T], attempts: int = 5) -> T:
    """``read(block)`` at the head, again at the new head when the block producer mined one mid-read."""
    for _ in range(attempts - 1):
        try:
            return read(w3.eth.block_number)
        except HeadMovedError:
            continue
    return read(w3.eth.block_number)


def contract(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name).abi)


def key_of(config: UniswapV4Config) -> PoolKey:
    return config.key


def quoter_out(w3: Web3, config: UniswapV4Config, zero_for_one: bool, amount_in: int, block: int) -> int:
    """V4Quoter.quoteExactInputSingle's amountOut at ``block`` (the quoter reverts with its result internally and
    returns it decoded)."""
    assert config.v4_quoter is not None
    quoter = contract(w3, "V4Quoter", config.v4_quoter)
    out, _gas = quoter.functions.quoteExactInputSingle(
        quote_exact_single(config.key, zero_for_one, amount_in)).call(block_identifier=block)
    return int(out)


def set_protocol_fee(w3: Web3, config: UniswapV4Config, protocol_fee: int) -> None:
    """PoolManager's owner names a fee controller, which sets ``protocol_fee`` (12 bits a direction) on the pool."""
    pm = contract(w3, "PoolManager", config.pool_manager)
    owner = pm.functions.owner().call()
    controller = Web3.to_checksum_address("0x" + "c0" * 20)  # any address: impersonated below
    for who in (owner, controller):
        w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [who])
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [who, hex(10**20)])
    calls = [(pm.functions.setProtocolFeeController(controller), owner),
             (pm.functions.setProtocolFee(config.key.as_tuple(), protocol_fee), controller)]
    for fn, sender in calls:
        tx = fn.transact({"from": sender, "gas": 200_000, "maxFeePerGas": Wei(10**13),
                          "maxPriorityFeePerGas": Wei(10**9)})
        assert w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
