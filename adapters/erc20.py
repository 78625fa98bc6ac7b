"""The ``erc20`` position source: the chain wallet's token inventory and native balance, in ONE round trip.

One multicall at the block reads balanceOf(wallet) and decimals() of every configured token plus the wallet's
native balance (UniswapInterfaceMulticall.getEthBalance). A token whose on-chain decimals differ from the config
is an error naming chain and token, never a silently scaled number. Without a multicall: one JSON-RPC batch plus
one eth_getBalance.

The wallet comes from ``settings.wallet`` or, by default, ``chain.extras["wallet"]`` (the chain's configured
wallet, put there by the snapshot); the native token's underlying from ``chain.extras["native_underlying"]``.

Usage::

    positions = Erc20Inventory().read_positions(chain, Erc20Config(), block=123)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from web3 import Web3
from web3.types import BlockIdentifier

from adapters.contract import PositionScope
from adapters.positions import SpotPosition
from adapters.rpc import Address, batch_call, decode, encode_call
from adapters.types import ChainContext
from crosshedge import AdapterError, HeadMovedError

NATIVE = "native"


class Erc20Config(BaseModel):
    """The ``settings`` of an erc20 position source in chains.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wallet: Address | None = None  # default: the chain's configured wallet
    tokens: list[str] | None = None  # token symbols to include; default: every configured token
    include_native: bool = True


class Erc20Inventory:
    """Position source for wallet inventory (see module docstring)."""

    name: ClassVar[str] = "erc20"
    kind: ClassVar[Literal["positions"]] = "positions"
    config_model: ClassVar[type[BaseModel]] = Erc20Config
    scope: ClassVar[PositionScope] = PositionScope.WALLET

    def read_positions(
        self, chain: ChainContext | None, config: BaseModel, block: int | None, as_of: datetime
    ) -> list[SpotPosition]:
        """Balances of every selected token and the native coin, pinned to ``block`` (latest if None)."""
        if chain is None:
            raise AdapterError("erc20 inventory needs a chain connection")
        if not isinstance(config, Erc20Config):
            raise AdapterError(f"chain {chain.name}: erc20 settings are not an Erc20Config")
        wallet = config.wallet or chain.extras.get("wallet")
        if not wallet:
            raise AdapterError(f"chain {chain.name}: erc20 inventory has no wallet (set settings.wallet)")
        tokens = [t for t in chain.tokens.values() if config.tokens is None or t.symbol in config.tokens]
        unknown = sorted(set(config.tokens or ()) - {t.symbol for t in chain.tokens.values()})
        if unknown:
            raise AdapterError(f"chain {chain.name}: erc20 settings.tokens names unconfigured tokens {unknown}")
        calls = [encode_call(t.address, "balanceOf(address)", wallet) for t in tokens]
        calls += [encode_call(t.address, "decimals()") for t in tokens]
        native_in_batch = config.include_native and chain.multicall is not None
        if native_in_batch:
            calls.append(encode_call(str(chain.multicall), "getEthBalance(address)", wallet))
        at: BlockIdentifier = block if block is not None else "latest"
        ran_at, results = batch_call(chain.w3, calls, at, chain.multicall, chain.name)
        if block is not None and ran_at is not None and ran_at != block:
            raise HeadMovedError(f"chain {chain.name}: reads pinned to block {block} ran at block {ran_at}")
        number = block if block is not None else int(ran_at or chain.w3.eth.block_number)
        out = []
        n = len(tokens)
        for t, bal, dec in zip(tokens, results[:n], results[n : 2 * n], strict=True):
            try:
                raw, (decimals,) = int(decode(("uint256",), bal.data)[0]), decode(("uint8",), dec.data)
            except ValueError:
                raise AdapterError(
                    f"chain {chain.name}: token {t.symbol} at {t.address} does not answer balanceOf/decimals"
                ) from None
            if decimals != t.decimals:
                raise AdapterError(
                    f"chain {chain.name}: token {t.symbol} ({t.address}) has decimals() = {decimals} on chain "
                    f"but {t.decimals} in the config"
                )
            out.append(SpotPosition(chain=chain.name, symbol=t.symbol, address=t.address, underlying=t.underlying,
                                    amount=raw / 10**t.decimals, raw=raw, wallet=wallet, block_number=number))
        if config.include_native:
            native = (
                int(decode(("uint256",), results[-1].data)[0]) if native_in_batch
                else int(chain.w3.eth.get_balance(Web3.to_checksum_address(wallet), block_identifier=at))
            )
            underlying = str(chain.extras.get("native_underlying", "ETH"))
            out.append(SpotPosition(chain=chain.name, symbol=underlying, address=NATIVE, underlying=underlying,
                                    amount=native / 10**18, raw=native, wallet=wallet, block_number=number))
        return out


def positions_by_underlying(positions: Sequence[SpotPosition]) -> dict[str, float]:
    """Total human amount per underlying (e.g. {"ETH": 412.5, "USD": 2e6})."""
    totals: dict[str, float] = {}
    for p in positions:
        totals[p.underlying] = totals.get(p.underlying, 0.0) + p.amount
    return totals
