"""Contracts are verified, not trusted: the devnet's venues verify (pinned by the code hashes the devnet writes, and
from the npm artifacts alone), its Uniswap V4 pools among them whether or not ``devnet.v4_venues`` lists them; an
account, a contract of the wrong kind, a token posing as a pool, PoolManager or Permit2, a V3 router as a V4
venue's UniversalRouter, a router of another factory, a StateView of another PoolManager, a wrong pinned hash and a
fake multicall are each refused with their sentence while the other venues verify; a second verification costs no
round trip, and one past the cache's horizon reads again.

Everything runs on the real devnet (official bytecode from npm); nothing is mocked.
"""

from __future__ import annotations

import functools
import socket
from typing import Any

import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from adapters import ChainContext, RoundTripCounter, VenueEntry, default_registry
from crosshedge import RpcError
from crosshedge.config import Config
from devnet import load_artifact
from orchestrator import ContractVerifier, chain_context
from tests.integration.adapters.adapter_helpers import at_head, context
from tests.integration.adapters.v4_helpers import v4_entries
from tests.integration.conftest import DEV_TX_FEES, DevnetHandle

pytestmark = pytest.mark.integration

REGISTRY = default_registry()


def with_chain(config: Config, chain: str, **update: Any) -> Config:
    """``config`` with chain ``chain``'s settings updated (code_hashes, multicall, ...)."""
    chains = dict(config.raw.chains)
    chains[chain] = chains[chain].model_copy(update=update)
    return config.model_copy(update={"raw": config.raw.model_copy(update={"chains": chains})})


def unpinned(config: Config) -> Config:
    """``config`` without any code_hashes: every role is judged against the npm artifacts alone."""
    for chain in config.chains:
        config = with_chain(config, chain, code_hashes={})
    return config


def variant(config: Config, chain: str, adapter: str, name: str, **update: str) -> VenueEntry:
    """A copy of the chain's first ``adapter`` venue named ``name`` with config fields replaced."""
    entry = next(v for v in config.venues_on(chain) if v.adapter == adapter)
    fields = {k: Web3.to_checksum_address(a) for k, a in update.items()}
    return VenueEntry(name=name, chain=chain, adapter=adapter, config=entry.config.model_copy(update=fields))


def with_v4(devnet: DevnetHandle, config: Config, chain: str) -> list[VenueEntry]:
    """The chain's venues with its Uniswap V4 pools among them, whether or not ``devnet.v4_venues`` lists them."""
    venues = config.venues_on(chain)
    if any(v.adapter == "uniswap_v4" for v in venues):
        return venues
    return [*venues, *v4_entries(devnet, chain)]


def v4_variant(devnet: DevnetHandle, chain: str, name: str, **update: str) -> VenueEntry:
    """A copy of the chain's first V4 venue named ``name`` with contract fields replaced."""
    entry = v4_entries(devnet, chain)[0]
    fields = {k: Web3.to_checksum_address(a) for k, a in update.items()}
    return VenueEntry(name=name, chain=chain, adapter="uniswap_v4", config=entry.config.model_copy(update=fields))


def head(ctx: ChainContext) -> int:
    return int(ctx.w3.eth.block_number)


def verified(ctx: ChainContext, config: Config, venues: list[VenueEntry],
             verifier: ContractVerifier | None = None) -> dict[str, str]:
    """The refusals of verifying ``venues`` at the head (read again at the new head if a block is mined under it,
    as the snapshot does)."""
    check = verifier or ContractVerifier()
    return at_head(ctx, functools.partial(check.verify, config, REGISTRY, ctx, venues))[1]


@pytest.mark.parametrize("pinned", [True, False], ids=["code_hashes", "npm_artifacts"])
def test_every_devnet_venue_verifies(devnet: DevnetHandle, pinned: bool) -> None:
    config = devnet.config if pinned else unpinned(devnet.config)
    verifier = ContractVerifier()
    for chain in devnet.chains():
        assert config.chains[chain].code_hashes if pinned else not config.chains[chain].code_hashes
        ctx = context(config, chain)
        venues = with_v4(devnet, config, chain)
        assert {v.adapter for v in venues} == {"uniswap_v3", "uniswap_v2", "uniswap_route", "uniswap_v4"}
        assert verified(ctx, config, venues, verifier) == {}
        allowed = at_head(ctx, functools.partial(verifier.allowlist, config, REGISTRY, ctx, venues))[1]
        contracts = devnet.state["chains"][chain]["contracts"]
        tokens = {t["address"] for t in devnet.state["chains"][chain]["tokens"].values()}
        # Route and V4 venues swap through the UniversalRouter and approve Permit2 (which the router pulls through);
        # PoolManager is reached through the router, never a transaction's target.
        v4 = devnet.state["chains"][chain]["uniswap_v4"]
        routers = {contracts["swap_router"], contracts["v2_router"], v4["universal_router"], v4["permit2"]}
        assert allowed == {Web3.to_checksum_address(a) for a in routers} | tokens


def test_the_devnet_pins_the_code_of_everything_it_deploys(devnet: DevnetHandle) -> None:
    for chain in devnet.chains():
        state = devnet.state["chains"][chain]
        pinned = devnet.config.chains[chain].code_hashes
        deployed = set(state["contracts"].values()) | {v.get("pool") or v["pair"] for v in state["venues"].values()
                                                       if "legs" not in v}
        # A route venue's pools are its legs (the WBTC/WETH pool is nothing but a leg); a V4 leg is a pool id in
        # PoolManager (pinned below), not a contract of its own.
        deployed |= {leg.get("pool") or leg["pair"] for v in state["venues"].values() for leg in v.get("legs", ())
                     if leg["kind"] != "uniswap_v4"}
        # Uniswap V4's contracts (recorded apart from the venues until its adapter exists) are pinned too.
        deployed |= {a for k, a in (state.get("uniswap_v4") or {}).items() if k != "pools"}
        # Across's SpokePool: its proxy (what the transfers section names) and the implementation behind it.
        deployed |= {state["across"]["spoke_pool"], state["across"]["implementation"]}
        # Curie's contracts, its vAMM and its index feed (the owner and the maker are accounts, not code).
        deployed |= {a for perp in (state.get("perps") or {}).values() for k, a in perp.items()
                     if k not in ("owner", "maker") and isinstance(a, str) and Web3.is_address(a)}
        assert set(pinned) == {Web3.to_checksum_address(a) for a in deployed}
        w3 = devnet.w3(chain)
        for address, code_hash in pinned.items():
            code = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
            assert code and code_hash == "0x" + bytes(Web3.keccak(code)).hex()


def _bad_venue(devnet: DevnetHandle, case: str) -> tuple[str, VenueEntry, dict[bool, str]]:
    """(chain, the bad venue, the start of its refusal by whether code_hashes pin the devnet) for one case."""
    state = devnet.state["chains"]
    contracts = {c: {k: Web3.to_checksum_address(a) for k, a in state[c]["contracts"].items()} for c in state}
    if case == "v2_router_is_an_account":
        eoa = Web3.to_checksum_address(state["arbitrum"]["accounts"]["trader"])
        sentence = (f"chain arbitrum: venue v2_bad: router {eoa} has no code (an account, not a contract); "
                    "refused")
        return "arbitrum", variant(devnet.config, "arbitrum", "uniswap_v2", "v2_bad", router=eoa), {
            True: sentence, False: sentence}
    if case == "v3_router_is_the_quoter":
        quoter = contracts["ethereum"]["quoter_v2"]
        return "ethereum", variant(devnet.config, "ethereum", "uniswap_v3", "v3_bad", router=quoter), {
            True: f"chain ethereum: venue v3_bad: router {quoter}: exactInputSingle(...) did not revert with "
                  "'Transaction too old' as a SwapRouter does for an expired deadline; refused",
            False: f"chain ethereum: venue v3_bad: router {quoter} is not a SwapRouter (@uniswap/v3-periphery): "
                   "its code (8273 bytes) differs from the npm artifact's (12070 bytes) with its immutables "
                   "(factory, WETH9) masked; refused"}
    if case == "v3_router_is_a_token":
        usdc = contracts["base"]["usdc"]
        return "base", variant(devnet.config, "base", "uniswap_v3", "v3_bad", router=usdc), {
            True: f"chain base: venue v3_bad: router {usdc}: factory() reverted or returned no address; expected "
                  "the pool's factory (a router of another factory swaps in another pool); refused",
            False: f"chain base: venue v3_bad: router {usdc} is not a SwapRouter (@uniswap/v3-periphery)"}
    if case == "v3_pool_is_a_token":
        weth = contracts["ethereum"]["weth"]
        return "ethereum", variant(devnet.config, "ethereum", "uniswap_v3", "v3_bad", pool=weth), {
            True: f"chain ethereum: venue v3_bad: pool {weth}: factory() returned no address, so its factory is "
                  "unknown; refused",
            False: f"chain ethereum: venue v3_bad: pool {weth} is not a UniswapV3Pool (@uniswap/v3-core)"}
    if case == "v4_router_is_a_v3_router":
        router = contracts["ethereum"]["swap_router"]
        return "ethereum", v4_variant(devnet, "ethereum", "v4_bad", universal_router=router), {
            True: f"chain ethereum: venue v4_bad: universal_router {router}: V4_POSITION_MANAGER() returned no "
                  "address, so its v4_position_manager is unknown; refused",
            False: f"chain ethereum: venue v4_bad: universal_router {router} is not a UniversalRouter "
                   "(@uniswap/universal-router)"}
    if case == "v4_pool_manager_is_a_token":
        usdc = contracts["arbitrum"]["usdc"]
        v4 = {k: Web3.to_checksum_address(a) for k, a in state["arbitrum"]["uniswap_v4"].items() if k != "pools"}
        return "arbitrum", v4_variant(devnet, "arbitrum", "v4_bad", pool_manager=usdc), {
            True: f"chain arbitrum: venue v4_bad: state_view {v4['state_view']}: poolManager() returned "
                  f"{v4['pool_manager']}, not the configured PoolManager {usdc} (it would read or swap in another "
                  "PoolManager); refused",
            False: f"chain arbitrum: venue v4_bad: pool_manager {usdc} is not a PoolManager (@uniswap/v4-core)"}
    if case == "v4_permit2_is_a_token":
        weth = contracts["base"]["weth"]
        v4 = {k: Web3.to_checksum_address(a) for k, a in state["base"]["uniswap_v4"].items() if k != "pools"}
        # WETH's code is pinned, so only the router's position manager's Permit2 tells it from Permit2.
        return "base", v4_variant(devnet, "base", "v4_bad", permit2=weth), {
            True: f"chain base: venue v4_bad: v4_position_manager {v4['position_manager']}: permit2() returned "
                  f"{v4['permit2']}, not the configured Permit2 {weth} (the venue would approve a Permit2 its "
                  "deployment does not pull through); refused",
            False: f"chain base: venue v4_bad: permit2 {weth} is not a Permit2 (@uniswap/v4-periphery)"}
    assert case == "v2_pair_is_a_v3_pool"
    pool = Web3.to_checksum_address(
        next(v["pool"] for v in state["base"]["venues"].values() if v["adapter"] == "uniswap_v3"))
    return "base", variant(devnet.config, "base", "uniswap_v2", "v2_bad", pair=pool), {
        True: f"chain base: venue v2_bad: factory {contracts['base']['v3_factory']}: getPair(...) reverted or "
              "returned no address; expected the configured pair (its factory did not create it); refused",
        False: f"chain base: venue v2_bad: pair {pool} is not a UniswapV2Pair (@uniswap/v2-core)"}


CASES = ["v2_router_is_an_account", "v3_router_is_the_quoter", "v3_router_is_a_token", "v3_pool_is_a_token",
         "v2_pair_is_a_v3_pool", "v4_router_is_a_v3_router", "v4_pool_manager_is_a_token",
         "v4_permit2_is_a_token"]


@pytest.mark.parametrize("pinned", [True, False], ids=["code_hashes", "npm_artifacts"])
@pytest.mark.parametrize("case", CASES)
def test_a_bad_venue_is_refused_alone_with_its_sentence(devnet: DevnetHandle, case: str, pinned: bool) -> None:
    chain, bad, sentences = _bad_venue(devnet, case)
    config = devnet.config if pinned else unpinned(devnet.config)
    ctx = context(config, chain)
    venues = [*with_v4(devnet, config, chain), bad]
    refused = verified(ctx, config, venues)
    assert list(refused) == [bad.name]
    assert refused[bad.name].startswith(sentences[pinned]), refused[bad.name]
    assert refused[bad.name].endswith("; refused") and refused[bad.name].count("; refused") == 1


def test_pinned_code_is_not_taken_for_the_role_it_does_not_play(devnet: DevnetHandle) -> None:
    # The devnet pins the quoter's exact code, so its code check passes as any role: the router's deadline probe
    # is what refuses it (a QuoterV2 has no exactInputSingle).
    _, bad, _ = _bad_venue(devnet, "v3_router_is_the_quoter")
    quoter = bad.config.model_dump()["router"]
    assert quoter in devnet.config.chains["ethereum"].code_hashes
    ctx = context(devnet.config, "ethereum")
    refused = verified(ctx, devnet.config, [bad])
    assert "did not revert with 'Transaction too old' as a SwapRouter does" in refused[bad.name]


def _deploy(w3: Web3, sender: str, name: str, *args: Any) -> str:
    art = load_artifact(name)
    tx = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).transact(
        {"from": sender, "gas": 8_000_000, **DEV_TX_FEES})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    address = receipt["contractAddress"]
    assert receipt["status"] == 1 and address is not None
    return Web3.to_checksum_address(address)


@pytest.mark.usefixtures("chain_snapshot")
@pytest.mark.parametrize("adapter", ["uniswap_v3", "uniswap_v2"])
def test_a_router_of_another_factory_is_refused(devnet: DevnetHandle, adapter: str) -> None:
    w3 = devnet.w3("base")
    state = devnet.state["chains"]["base"]
    deployer, weth = state["accounts"]["deployer"], state["contracts"]["weth"]
    if adapter == "uniswap_v3":
        factory = _deploy(w3, deployer, "UniswapV3Factory")
        router = _deploy(w3, deployer, "SwapRouter", factory, weth)
        real_factory, what = state["contracts"]["v3_factory"], "pool"
    else:
        factory = _deploy(w3, deployer, "UniswapV2Factory", deployer)
        router = _deploy(w3, deployer, "UniswapV2Router02", factory, weth)
        real_factory, what = state["contracts"]["v2_factory"], "pair"
    bad = variant(devnet.config, "base", adapter, "foreign_router", router=router)
    ctx = context(devnet.config, "base")
    venues = [*devnet.config.venues_on("base"), bad]
    refused = verified(ctx, devnet.config, venues)
    assert refused == {"foreign_router": (
        f"chain base: venue foreign_router: router {router}: factory() returned {factory}, not the {what}'s factory "
        f"{Web3.to_checksum_address(real_factory)} (a router of another factory swaps in another {what}); refused")}


@pytest.mark.usefixtures("chain_snapshot")
@pytest.mark.parametrize("pinned", [True, False], ids=["code_hashes", "npm_artifacts"])
def test_a_v4_state_view_of_another_pool_manager_is_refused(devnet: DevnetHandle, pinned: bool) -> None:
    # A StateView built from the npm artifact for another PoolManager: its code matches (the PoolManager is a
    # masked immutable), so only the poolManager() link tells it would read another PoolManager's pools.
    w3 = devnet.w3("base")
    state = devnet.state["chains"]["base"]
    other = Web3.to_checksum_address(state["contracts"]["v3_factory"])  # any contract that is not this PoolManager
    state_view = _deploy(w3, state["accounts"]["deployer"], "StateView", other)
    bad = v4_variant(devnet, "base", "foreign_state_view", state_view=state_view)
    config = devnet.config if pinned else unpinned(devnet.config)
    ctx = context(config, "base")
    refused = verified(ctx, config, [*with_v4(devnet, config, "base"), bad])
    pool_manager = Web3.to_checksum_address(state["uniswap_v4"]["pool_manager"])
    assert refused == {"foreign_state_view": (
        f"chain base: venue foreign_state_view: state_view {state_view}: poolManager() returned {other}, not the "
        f"configured PoolManager {pool_manager} (it would read or swap in another PoolManager); refused")}


def test_a_wrong_pinned_hash_refuses(devnet: DevnetHandle) -> None:
    entry = next(v for v in devnet.config.venues_on("arbitrum") if v.adapter == "uniswap_v3")
    router = entry.config.model_dump()["router"]
    hashes = dict(devnet.config.chains["arbitrum"].code_hashes)
    real = hashes[router]
    hashes[router] = "0x" + "ab" * 32
    config = with_chain(devnet.config, "arbitrum", code_hashes=hashes)
    ctx = context(config, "arbitrum")
    venues = config.venues_on("arbitrum")
    refused = verified(ctx, config, venues)
    users = {v.name for v in venues if v.config.model_dump().get("router") == router}
    assert set(refused) == users and users
    assert refused[entry.name] == (f"chain arbitrum: venue {entry.name}: router {router} has code keccak {real}, "
                                   f"not the 0x{'ab' * 32} in code_hashes; refused")


def test_a_fake_multicall_refuses_every_venue_of_its_chain(devnet: DevnetHandle) -> None:
    usdc = Web3.to_checksum_address(devnet.state["chains"]["base"]["contracts"]["usdc"])
    config = unpinned(with_chain(devnet.config, "base", multicall=usdc))
    ctx = context(config, "base")
    venues = config.venues_on("base")
    refused = verified(ctx, config, venues)
    assert set(refused) == {v.name for v in venues}
    assert all(f"multicall {usdc} is not a UniswapInterfaceMulticall" in s for s in refused.values())


def test_a_second_verification_costs_no_round_trip(devnet: DevnetHandle) -> None:
    counter = RoundTripCounter()
    ctx = context(devnet.config, "ethereum", counter=counter)
    venues = devnet.config.venues_on("ethereum")
    verifier = ContractVerifier()
    block = head(ctx)
    counter.reset()
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, block) == {}
    assert counter.count == 2 and counter.methods == {"batch": 2}  # code + inputs, then derived code + multicall
    devnet.w3("ethereum").provider.make_request(RPCEndpoint("evm_mine"), [])
    later = head(ctx)
    assert later > block
    counter.reset()
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, later) == {}
    assert counter.count == 0
    # A venue added later reuses the cached code of its router, pool and factory: only its new calls are read.
    extra = variant(devnet.config, "ethereum", "uniswap_v3", "v3_again")
    assert verifier.verify(devnet.config, REGISTRY, ctx, [*venues, extra], later) == {}
    assert counter.count == 0


def test_reads_past_the_horizon_are_read_again(devnet: DevnetHandle) -> None:
    counter = RoundTripCounter()
    ctx = context(devnet.config, "base", counter=counter)
    venues = devnet.config.venues_on("base")
    verifier = ContractVerifier(reverify_after_s=3 * devnet.config.chains["base"].block_time_s)
    assert verifier.horizon(devnet.config, "base") == 3
    block = head(ctx)
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, block) == {}
    devnet.w3("base").provider.make_request(RPCEndpoint("anvil_mine"), [hex(4)])
    counter.reset()
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, block + 3) == {}
    assert counter.count == 0  # still within the horizon
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, block + 4) == {}
    assert counter.methods == {"batch": 2}  # expired: code and links read again
    counter.reset()
    assert verifier.verify(devnet.config, REGISTRY, ctx, venues, block - 1) == {}
    assert counter.methods == {"batch": 2}  # an older block than the cached reads: read at that block


def test_without_a_multicall_the_links_go_as_plain_calls_in_the_same_batch(devnet: DevnetHandle) -> None:
    config = with_chain(devnet.config, "arbitrum", multicall=None)
    counter = RoundTripCounter()
    ctx = context(config, "arbitrum", counter=counter)
    assert ctx.multicall is None
    _, bad, sentences = _bad_venue(devnet, "v2_router_is_an_account")
    block = head(ctx)
    counter.reset()
    refused = ContractVerifier().verify(config, REGISTRY, ctx, [*config.venues_on("arbitrum"), bad], block)
    assert refused == {bad.name: sentences[True]}
    assert counter.methods == {"batch": 2}


def test_an_unreachable_chain_raises_a_retryable_error_not_a_verdict(devnet: DevnetHandle) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    ctx = chain_context(devnet.config, "base", Web3(Web3.HTTPProvider(dead, request_kwargs={"timeout": 2})))
    with pytest.raises(RpcError, match="chain base: contract verification batch failed at block 1") as err:
        ContractVerifier().verify(devnet.config, REGISTRY, ctx, devnet.config.venues_on("base"), 1)
    assert err.value.retryable
