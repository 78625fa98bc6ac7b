"""The devnet section of chains.yaml: which chains to start, which tokens and pools to deploy, how deep.

Usage (chains.yaml)::

    devnet:
      prices: {ETH: 3000, BTC: 60000}
      chains:
        ethereum: {chain_id: 1, port: 18545, base_fee_gwei: 20, block_time_s: 12}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crosshedge.config.chains import InventoryTargetSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DevnetPool(_Section):
    """One pool to create: a base/quote pair, an adapter kind, and how much liquidity in which shape.

    ``shape`` sets how the depth is spread over LP positions: ``ladder`` many overlapping ranges concentrated near
    the price (a busy major pool); ``wide`` few broad ranges (a passive pool); ``skewed`` more depth on one side.
    """

    kind: Literal["uniswap_v3", "uniswap_v2"] = "uniswap_v3"
    base: str  # token symbol, e.g. WETH
    quote: str  # token symbol, e.g. USDC
    fee: int = 3000  # pips; ignored for uniswap_v2 (always 3000)
    depth_usd: float = Field(gt=0)  # total USD value of the liquidity provided
    shape: Literal["ladder", "wide", "skewed"] = "ladder"
    positions: int = Field(default=12, ge=1, le=64)  # number of LP positions for v3 pools
    price_offset_bps: float = 0.0  # start this pool's price slightly off the reference (fragmented markets)


class DevnetRoute(_Section):
    """A multi-hop route venue over the chain's pools, named by their devnet venue names in swap order (SELL).

    E.g. ``{legs: [v3_wbtc_weth_500, v3_weth_usdc_500]}``: WBTC→WETH→USDC, a real alternative to the direct WBTC/USDC
    pools; ``{legs: [v3_wbtc_weth_500, v4_wbtc_usdc_1500]}``: WETH→WBTC→USDC through a V3 and a V4 pool. Every leg's
    pool must be in the chain's ``pools`` or, of two ERC20s, its ``v4_pools``; the route trades through the chain's
    UniversalRouter, so the chain needs ``v4_pools`` (which deploy it).
    """

    legs: list[str] = Field(min_length=2, max_length=4)


class DevnetV4Pool(_Section):
    """One Uniswap V4 pool to initialise on the chain's PoolManager (no hooks) and mint LP ranges in.

    ``base`` ETH means native ether (currency0 = address(0)), as V4's ETH pools hold it; WBTC is the token. V4 takes
    any fee with any tick spacing, so these pick tiers the chain's V3 pools do not have.
    """

    base: Literal["ETH", "WBTC"]
    quote: Literal["USDC"] = "USDC"
    fee: int = Field(ge=0, le=1_000_000)  # LP fee in pips
    tick_spacing: int = Field(ge=1, le=32767)
    depth_usd: float = Field(gt=0)
    shape: Literal["ladder", "wide", "skewed"] = "ladder"
    positions: int = Field(default=8, ge=1, le=64)
    price_offset_bps: float = 0.0


class DevnetChain(_Section):
    chain_id: int = Field(gt=0)
    port: int = Field(gt=1024, lt=65536)
    base_fee_gwei: float = Field(gt=0)
    block_time_s: float = Field(gt=0)  # the real chain's block time; written into the generated config
    # Confirmation depth the generated config asks for on this chain (the real chain's usual depth; the devnet's
    # block producer keeps blocks coming so a depth above 1 is reached).
    confirmations: int = Field(default=1, ge=1, le=64)
    interval_mining: bool = False  # True: anvil mines every block_time_s; False: automine (fast tests)
    # True: `devnet up` also starts a private relay for this chain (devnet.mev.relay: sends that never show in the
    # public mempool) and writes its URL as the chain's private_rpc_url in the generated config.
    private_relay: bool = False
    # True: `devnet up` also deploys Perpetual Protocol v2 (Curie) on this chain (devnet.perp): a market per
    # perp_markets underlying (vETH/vUSD, vBTC/vUSD), each a Curie deployment and so a margin account of its own
    perp: bool = False
    perp_markets: tuple[str, ...] = ("ETH",)
    l1_data_fee_from: str | None = None  # rollups: the L1 chain whose base fee prices calldata
    pools: list[DevnetPool] = []
    # Uniswap V4 pools (the chain then also gets PoolManager, StateView, V4Quoter, PositionManager, UniversalRouter
    # and Permit2); recorded under the generated chain's ``uniswap_v4`` key, not as venues.
    v4_pools: list[DevnetV4Pool] = []
    # Multi-hop route venues (adapter ``uniswap_route``) over the pools above; a pool whose quote is not a USD token
    # (WBTC/WETH) is deployed as a route leg only, never as a venue of its own.
    routes: list[DevnetRoute] = []
    operator_inventory: dict[str, float] = {}  # token symbol -> amount funded to the operator wallet
    # What `crosshedge demo` funds instead, token by token (the rest as operator_inventory): the repo's demo starts
    # with its USDC skewed toward Ethereum, so bridging back toward the targets pays in some hours.
    demo_inventory: dict[str, float] = {}
    # USDC the operator holds in the chain's Perp Vault from the start (with ``perp``): a desk's standing margin,
    # which the optimizer grows perp positions against. demo_perp_collateral is what `crosshedge demo` deposits
    # instead (the FTX week hedges hundreds of ETH on perps; the tests' devnet keeps its own key).
    operator_perp_collateral: float = Field(default=0.0, ge=0)
    demo_perp_collateral: float | None = Field(default=None, ge=0)
    # The operator's own LP position in the chain's first V3 pool (±10% range), so the book holds LP risk too.
    operator_lp_usd: float = Field(default=0.0, ge=0)
    operator_native_eth: float = Field(default=5.0, ge=0)  # gas money; counted as ETH delta like any holding
    # Written into the generated chain as its inventory_targets (symbol -> target share and threshold).
    inventory_targets: dict[str, InventoryTargetSettings] = {}


class DevnetBridgeSettings(_Section):
    """The devnet's bridge (Across SpokePools and devnet.relayer): the fee schedule its relayer publishes (the
    generated ``transfers.across`` sections) and charges, and how long it takes to fill. ``relayer_delay_s`` is both
    the relayer's delay after the deposit's block time and the ``expected_fill_s`` the config publishes."""

    tokens: tuple[str, ...] = ("USDC",)  # WETH is every chain's wrapped native coin: a fill of it pays ether
    lp_fee_bps: float = Field(default=1.0, ge=0, lt=1000)
    relayer_fee_bps: float = Field(default=2.0, ge=0, lt=1000)
    relayer_fixed_fee: dict[str, int] = {"USDC": 500_000}  # symbol -> raw units on top (the relayer's gas)
    relayer_delay_s: float = Field(default=4.0, gt=0)
    fill_deadline_s: int = Field(default=3600, gt=0, le=7200)  # within the SpokePool's fillDeadlineBuffer (7200 s)
    relayer: bool = True  # False: `devnet up` starts no relayer (deposits stay unfilled)


class DevnetSpec(_Section):
    state_dir: Path = Path(".crosshedge/devnet")
    # The block producer mines a block on every chain this often (the devnet's compressed block time), so heads
    # stay fresh and receipts reach their confirmation depth; 0 turns it off (blocks only when a transaction is).
    block_interval_s: float = Field(default=1.0, ge=0)
    prices: dict[str, float] = {"ETH": 3000.0, "BTC": 60000.0}
    chains: dict[str, DevnetChain] = {}
    # Also write each chain's V4 pools as ``uniswap_v4`` venues in the generated config (the ``uniswap_v4``
    # deployment section stays). The repo's chains.yaml turns it on; a spec that leaves it out keeps V4 out of plans.
    v4_venues: bool = False
    bridge: DevnetBridgeSettings = DevnetBridgeSettings()

    @model_validator(mode="after")
    def _perp_markets_have_prices(self) -> DevnetSpec:
        for name, chain in self.chains.items():
            missing = [u for u in chain.perp_markets if u not in self.prices] if chain.perp else []
            if missing:
                raise ValueError(f"devnet.chains.{name}.perp_markets: {', '.join(missing)} has no devnet.prices "
                                 "entry to start its index at")
        return self

    def for_demo(self) -> DevnetSpec:
        """The devnet as `crosshedge demo` deploys it: every chain's operator funded with its demo_inventory over
        its operator_inventory (a deployment, and a cache entry, of its own)."""
        chains = {name: c.model_copy(update={
            "operator_inventory": {**c.operator_inventory, **c.demo_inventory}, "demo_inventory": {},
            "operator_perp_collateral": (c.operator_perp_collateral if c.demo_perp_collateral is None
                                         else c.demo_perp_collateral),
            "demo_perp_collateral": None})
                  for name, c in self.chains.items()}
        return self.model_copy(update={"chains": chains})
