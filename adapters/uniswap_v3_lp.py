"""Uniswap V3 LP positions owned by the chain's wallet, read from the NonfungiblePositionManager at one block.

Reads, each one batched round trip pinned to ``block``: ``balanceOf(owner)`` and ``factory()``; then
``tokenOfOwnerByIndex(owner, i)`` for every NFT; then ``positions(id)`` (token0/1, fee, ticks, liquidity,
tokensOwed); then ``getPool`` and the pools' ``slot0`` (the pool price at the block, kept on the position so its
on-chain holdings can be recomputed exactly). Tokens map to underlyings through the chain's token list; a position
in a token the config does not list is an error (fail closed: unknown risk is not zero risk). Closed positions
(no liquidity, nothing owed) are skipped. ``tokensOwed`` counts fees already credited to the position (Uniswap
updates it on every liquidity change or ``collect``), not fees accrued since.

Addresses (per chain, first found wins): ``settings.position_managers[chain]``, then the chain's
``contracts.position_manager`` (ChainContext.extras["contracts"], written by the devnet or set in chains.yaml).
The owner: ``settings.owner``, else the chain's wallet (ChainContext.extras["wallet"]).

Usage (chains.yaml)::

    positions:
      lp: {adapter: uniswap_v3_lp, settings: {}}   # or {position_managers: {ethereum: 0xC364...}, owner: 0x...}
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from web3 import Web3

from adapters.contract import PositionScope
from adapters.positions import LpPosition
from adapters.rpc import Address, Call, batch_call, decode, encode_call
from adapters.types import ChainContext
from crosshedge import AdapterError, HeadMovedError

POSITIONS_TYPES = (
    "uint96", "address", "address", "address", "uint24", "int24", "int24", "uint128", "uint256", "uint256",
    "uint128", "uint128",
)
SLOT0_PREFIX = ("uint160", "int24")
CASH = frozenset({"USD"})


class UniswapV3LpSettings(BaseModel):
    """chains.yaml ``positions.<name>.settings`` for LP NFTs; every field optional (see module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    position_managers: dict[str, Address] = {}  # chain name -> NonfungiblePositionManager
    owner: Address | None = None


def _run(chain: ChainContext, calls: Sequence[Call], block: int | None, what: str) -> list[bytes]:
    at: Any = block if block is not None else "latest"
    ran_at, results = batch_call(chain.w3, calls, at, chain.multicall, chain.name)
    if block is not None and ran_at is not None and ran_at != block:
        raise HeadMovedError(f"chain {chain.name}: LP reads pinned to block {block} ran at block {ran_at}")
    out = []
    for call, res in zip(calls, results, strict=True):
        if not res.success:
            raise AdapterError(f"chain {chain.name}: {what} call to {call.target} reverted")
        out.append(res.data)
    return out


def _addresses(chain: ChainContext, settings: UniswapV3LpSettings) -> tuple[str, str]:
    manager = settings.position_managers.get(chain.name) or dict(chain.extras.get("contracts") or {}).get(
        "position_manager") or chain.extras.get("position_manager")
    if not manager:
        raise AdapterError(
            f"chain {chain.name}: no NonfungiblePositionManager address (set positions settings.position_managers."
            f"{chain.name} or the chain's contracts.position_manager)"
        )
    owner = settings.owner or chain.extras.get("wallet")
    if not owner:
        raise AdapterError(f"chain {chain.name}: no LP owner (set settings.owner or the chain's wallet)")
    return Web3.to_checksum_address(str(manager)), Web3.to_checksum_address(str(owner))


class UniswapV3LpPositions:
    """Position source ``uniswap_v3_lp``."""

    name: ClassVar[str] = "uniswap_v3_lp"
    kind: ClassVar[Literal["positions"]] = "positions"
    config_model: ClassVar[type[BaseModel]] = UniswapV3LpSettings
    scope: ClassVar[PositionScope] = PositionScope.CHAIN

    def read_positions(
        self, chain: ChainContext | None, config: BaseModel, block: int | None, as_of: datetime
    ) -> list[LpPosition]:
        """Every open LP NFT of the owner on ``chain`` at ``block``."""
        if chain is None:
            raise AdapterError("uniswap_v3_lp positions need a chain connection")
        settings = config if isinstance(config, UniswapV3LpSettings) else UniswapV3LpSettings.model_validate(
            config.model_dump())
        manager, owner = _addresses(chain, settings)
        try:
            bal, fac = _run(chain, [encode_call(manager, "balanceOf(address)", owner),
                                    encode_call(manager, "factory()")], block, "balanceOf/factory")
            count, factory = int(decode(("uint256",), bal)[0]), str(decode(("address",), fac)[0])
            ids_raw = _run(chain, [encode_call(manager, "tokenOfOwnerByIndex(address,uint256)", owner, i)
                                   for i in range(count)], block, "tokenOfOwnerByIndex")
            ids = [int(decode(("uint256",), r)[0]) for r in ids_raw]
            raw = _run(chain, [encode_call(manager, "positions(uint256)", i) for i in ids], block, "positions")
            rows = [decode(POSITIONS_TYPES, r) for r in raw]
        except ValueError as exc:
            raise AdapterError(f"chain {chain.name}: {manager} does not behave as a NonfungiblePositionManager: "
                               f"{exc}") from None
        open_rows = [(i, r) for i, r in zip(ids, rows, strict=True) if r[7] or r[10] or r[11]]
        prices = self._pool_prices(chain, factory, [r for _, r in open_rows], block)
        number = block if block is not None else int(chain.w3.eth.block_number)
        return [self._position(chain, manager, i, r, prices, number) for i, r in open_rows]

    def _pool_prices(self, chain: ChainContext, factory: str, rows: list[tuple[Any, ...]], block: int | None
                     ) -> dict[tuple[str, str, int], tuple[str, int]]:
        keys = sorted({(str(r[2]), str(r[3]), int(r[4])) for r in rows})
        if not keys:
            return {}
        pools_raw = _run(chain, [encode_call(factory, "getPool(address,address,uint24)", *k) for k in keys], block,
                         "getPool")
        pools = [str(decode(("address",), p)[0]) for p in pools_raw]
        slots = _run(chain, [encode_call(p, "slot0()") for p in pools], block, "slot0")
        return {k: (Web3.to_checksum_address(p), int(decode(SLOT0_PREFIX, s)[0]))
                for k, p, s in zip(keys, pools, slots, strict=True)}

    def _position(  # private helper, one call site
        self, chain: ChainContext, manager: str, token_id: int, r: tuple[Any, ...],
                  prices: dict[tuple[str, str, int], tuple[str, int]], block: int) -> LpPosition:
        t0, t1 = chain.token(str(r[2])), chain.token(str(r[3]))
        if t0 is None or t1 is None:
            missing = r[2] if t0 is None else r[3]
            raise AdapterError(f"chain {chain.name}: LP NFT {token_id} holds token {missing}, which is not in the "
                               "chain's token list; add it to chains.yaml so its risk is counted")
        if (t0.underlying in CASH) == (t1.underlying in CASH):
            raise AdapterError(f"chain {chain.name}: LP NFT {token_id} is a {t0.symbol}/{t1.symbol} position; only "
                               "risky/USD pairs are supported")
        risky0 = t1.underlying in CASH
        pool, sqrt_price = prices[(str(r[2]), str(r[3]), int(r[4]))]
        return LpPosition(
            id=f"{chain.name}:{token_id}", chain=chain.name, token_id=token_id, position_manager=manager, pool=pool,
            underlying=(t0 if risky0 else t1).underlying, quote_underlying=(t1 if risky0 else t0).underlying,
            token0=t0.address, token1=t1.address, decimals0=t0.decimals, decimals1=t1.decimals,
            risky_is_token0=risky0, fee=int(r[4]), tick_lower=int(r[5]), tick_upper=int(r[6]), liquidity=int(r[7]),
            tokens_owed0=int(r[10]), tokens_owed1=int(r[11]), sqrt_price_x96=sqrt_price, block_number=block,
        )
