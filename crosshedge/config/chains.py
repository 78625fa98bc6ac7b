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


class UniswapV4PoolKey(Strict):
    """One Uniswap V4 pool: its PoolKey fields and the id PoolManager and StateView know it by."""

    currency0: Address  # 0x0 is native ETH
    currency1: Address
    fee: int = Field(ge=0, lt=2**24)  # LP fee in pips (0x800000 would mark a dynamic-fee pool)
    tick_spacing: int = Field(ge=1, le=32767)
    hooks: Address
    pool_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")  # keccak256(abi.encode(PoolKey))


class UniswapV4Deployment(Strict):
    """A chain's Uniswap V4 deployment, as the devnet records it: the contracts and every pool's key and id.

    The pools that are hedge venues are listed again in ``venues`` as ``uniswap_v4`` sections (the devnet writes
    them with ``devnet.v4_venues``); this section is the deployment itself, which tests and tools read.
    """

    pool_manager: Address  # the singleton that holds every pool
    state_view: Address
    v4_quoter: Address
    position_manager: Address
    universal_router: Address
    permit2: Address
    pools: dict[str, UniswapV4PoolKey] = {}


class InventoryTargetSettings(Strict):
    """Where one token's inventory should sit (compare Across relayer's targetPct / thresholdPct): this chain's
    share of the token's total over every chain (held + arriving), and how far below it the chain counts as short
    (the optimizer then weighs a transfer toward it against its cost)."""

    target_share: float = Field(ge=0, le=1)
    threshold: float = Field(default=0.05, ge=0, le=1)


class ChainSettings(Strict):
    chain_id: int = Field(gt=0)
    rpc_url: str
    # More endpoints of the same chain: reads fail over to them, and their heads must agree with the first one's.
    rpc_urls: list[str] = []
    # A private submission endpoint (a relay that includes transactions without showing them in the public
    # mempool): used for sending signed transactions only, never for reads.
    private_rpc_url: str | None = None
    block_time_s: float = Field(gt=0)
    # Blocks a receipt must be buried under before its fill is booked (a reorg shallower than this is survived).
    confirmations: int = Field(default=1, ge=0)
    # The head's timestamp may trail the wall clock by this much before the chain's data counts as stale
    # (default: 10 block times, at least 30 s).
    max_head_age_s: float | None = Field(default=None, gt=0)
    wallet: str  # name of an entry in wallets
    multicall: Address | None = None  # UniswapInterfaceMulticall, for batched reads pinned to one block
    # Read every venue in one eth_call through crosshedge's read lens (run with a state override, never deployed);
    # an RPC that refuses state overrides is detected and read through the multicall instead.
    read_lens: bool = True
    # Gas of each read-lens call: keep it within the RPC's eth_call gas cap; a window needing more is read in pieces.
    read_lens_gas: int = Field(default=30_000_000, ge=6_000_000)
    # Well-known contracts on this chain by role (position_manager, swap_router, quoter_v2, v2_router, ...):
    # position sources and the execution allowlist read them from here.
    contracts: dict[str, Address] = {}
    # Expected keccak256 of the runtime code at an address (routers, pools, quoters, tokens): a contract whose code
    # differs is refused before anything is approved or called. The devnet writes its deployments' hashes here.
    code_hashes: dict[Address, str] = {}
    gas: GasSettings = GasSettings()
    tokens: dict[str, TokenSettings] = {}
    venues: dict[str, dict[str, Any]] = {}  # each validated by its adapter's model in load_config
    # Bridges from and to this chain (adapter kind "transfer", e.g. across), each validated by its adapter's model;
    # a route runs between two chains that configure the same adapter and token.
    transfers: dict[str, dict[str, Any]] = {}
    # Target share of each token's total inventory on this chain (symbol -> target); see InventoryTargetSettings.
    inventory_targets: dict[str, InventoryTargetSettings] = {}
    # The chain's Uniswap V4 contracts and pool keys (the devnet writes them); its venues are in ``venues``.
    uniswap_v4: UniswapV4Deployment | None = None
    # Perpetual-futures markets on this chain (adapter kind "perp", e.g. perp_curie), each validated by its
    # adapter's model; the devnet writes one for a chain with ``perp: true``.
    perps: dict[str, dict[str, Any]] = {}

    @property
    def head_age_limit_s(self) -> float:
        """How old the chain's head may be against the wall clock before its data is stale."""
        return self.max_head_age_s if self.max_head_age_s is not None else max(30.0, 10 * self.block_time_s)
