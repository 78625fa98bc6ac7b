"""The chains and wallets sections of chains.yaml: RPC, gas, tokens, venue sections (raw) and signers.

Venue sections stay raw mappings here; the loader hands each to its adapter's own model.

Usage (chains.yaml)::

    chains:
      arbitrum: {chain_id: 42161, rpc_url: ${ARBITRUM_RPC_URL}, block_time_s: 0.25, wallet: desk, ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from web3 import Web3


def _checksum(value: str) -> str:
    if not Web3.is_address(value):
        raise ValueError(f"expected a 0x-prefixed 20-byte hex address, got {value!r}")
    return Web3.to_checksum_address(value)


Address = Annotated[str, AfterValidator(_checksum)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class L1DataFee(Strict):
    """Rollup L1 data fee: calldata bytes x gas per byte x L1 base fee x scalar, paid in the native token."""

    l1_chain: str  # chain whose base fee prices the data (e.g. ethereum)
    tx_bytes: int = Field(default=400, gt=0)  # compressed size of a typical swap transaction
    gas_per_byte: int = Field(default=16, gt=0)
    scalar: float = Field(default=1.0, gt=0)


class GasSettings(Strict):
    """How a chain prices a transaction: USD = gas x gas price x native-token USD price (+ L1 data fee)."""

    type: Literal["eip1559", "legacy"] = "eip1559"
    native_underlying: str = "ETH"  # the native token's underlying; its USD price comes from the venues' median
    native_usd: float | None = Field(default=None, gt=0)  # fixed override, e.g. for a chain with no native venue
    max_gas_price_gwei: float = Field(default=500.0, gt=0)  # cap: never sign above it
    priority_fee_gwei: float = Field(default=0.01, ge=0)
    l1_data_fee: L1DataFee | None = None


class TokenSettings(Strict):
    address: Address
    decimals: int = Field(ge=0, le=36)
    underlying: str


class WalletSettings(Strict):
    """A signer. Its key comes from an environment variable or an encrypted keystore file; never from this file."""

    address: Address
    key_env: str | None = None
    keystore: Path | None = None
    password_env: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> WalletSettings:
        if (self.key_env is None) == (self.keystore is None):
            raise ValueError("give exactly one of key_env (an environment variable name) or keystore (a file path)")
        if self.keystore is not None and self.password_env is None and self.password_file is None:
            raise ValueError("a keystore needs password_env or password_file")
        return self


class ChainSettings(Strict):
    chain_id: int = Field(gt=0)
    rpc_url: str
    block_time_s: float = Field(gt=0)
    confirmations: int = Field(default=1, ge=0)
    wallet: str  # name of an entry in wallets
    multicall: Address | None = None  # UniswapInterfaceMulticall, for batched reads pinned to one block
    # Well-known contracts on this chain by role (position_manager, swap_router, quoter_v2, v2_router, ...):
    # position sources and the execution allowlist read them from here.
    contracts: dict[str, Address] = {}
    gas: GasSettings = GasSettings()
    tokens: dict[str, TokenSettings] = {}
    venues: dict[str, dict[str, Any]] = {}  # each validated by its adapter's model in load_config
