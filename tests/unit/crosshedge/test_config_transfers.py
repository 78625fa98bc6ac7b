"""chains.yaml's bridge sections and inventory targets: validated by the transfer adapter's own model, routes
between chains that both configure it, and one sentence naming the field for each mistake."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters import default_registry
from crosshedge import ConfigError
from crosshedge.config import load_config
from orchestrator import transfer_routes

USDC = {"ethereum": "0x" + "a1" * 20, "base": "0x" + "b1" * 20}
WETH = {"ethereum": "0x" + "a2" * 20, "base": "0x" + "b2" * 20}


def chain(name: str, chain_id: int) -> dict[str, Any]:
    return {
        "chain_id": chain_id, "rpc_url": "http://127.0.0.1:1", "block_time_s": 2, "wallet": "w",
        "tokens": {"USDC": {"address": USDC[name], "decimals": 6, "underlying": "USD"},
                   "WETH": {"address": WETH[name], "decimals": 18, "underlying": "ETH"}},
        "transfers": {"across": {"adapter": "across", "spoke_pool": "0x" + f"{chain_id % 256:02x}" * 20,
                                 "tokens": ["USDC", "WETH"], "lp_fee_bps": 1, "relayer_fee_bps": 4,
                                 "expected_fill_s": 4, "fill_deadline_s": 1800}},
        "inventory_targets": {"USDC": {"target_share": 0.5, "threshold": 0.1}},
    }


BASE: dict[str, Any] = {
    "chains": {"ethereum": chain("ethereum", 1), "base": chain("base", 8453)},
    "wallets": {"w": {"address": "0x" + "cc" * 20, "key_env": "CROSSHEDGE_TEST_KEY"}},
}


def write(tmp_path: Path, edit: Any = None) -> Path:
    data = copy.deepcopy(BASE)
    if edit is not None:
        edit(data)
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_routes_run_both_ways_for_every_erc20_both_ends_bridge(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    keys = sorted(r.key for r in transfer_routes(config, default_registry()))
    # WETH is each chain's wrapped native coin: a fill of it would be paid out as native ether, so no route
    assert keys == ["base->ethereum/USDC", "ethereum->base/USDC"]
    route = next(r for r in transfer_routes(config, default_registry()) if r.key == "ethereum->base/USDC")
    assert (route.origin_chain_id, route.destination_chain_id, route.token_out.address.lower()) == (
        1, 8453, USDC["base"])


def test_a_route_needs_the_token_on_both_ends(tmp_path: Path) -> None:
    def only_weth_on_base(d: dict[str, Any]) -> None:
        d["chains"]["base"]["transfers"]["across"]["tokens"] = ["WETH"]

    assert transfer_routes(load_config(write(tmp_path, only_weth_on_base)), default_registry()) == []


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["chains"]["base"]["transfers"]["across"].update(relayer_fee=3),
     r"chains\.base\.transfers\.across\.relayer_fee"),
    (lambda d: d["chains"]["base"]["transfers"]["across"].update(tokens=["DAI"]),
     r"chains\.base\.transfers\.across\.tokens: \['DAI'\] are not tokens of the chain"),
    (lambda d: d["chains"]["base"]["transfers"]["across"].update(adapter="uniswap_v3"),
     r"chains\.base\.transfers\.across\.adapter: adapter 'uniswap_v3' is a venue adapter, not a transfer"),
    (lambda d: d["chains"]["base"]["inventory_targets"].update(USDC={"target_share": 0.7}),
     r"inventory_targets\.USDC: the target shares add up to 1\.2"),
    (lambda d: d["chains"]["base"]["inventory_targets"].update(DAI={"target_share": 0.1}),
     r"chains\.base\.inventory_targets\.DAI: DAI is not a token of the chain"),
])
def test_each_mistake_is_one_sentence_naming_the_field(tmp_path: Path, edit: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, edit))
