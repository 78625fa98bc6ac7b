"""A verification is judged once for the blocks where the facts it saw hold: the snapshots and lanes that follow reuse
its verdict until a fact expires, a read changes the facts, or the config is another object."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from web3 import Web3

from adapters import AdapterRegistry, ChainContext, VenueEntry
from crosshedge.config import Config
from orchestrator.verification import ContractVerifier, _View

CHAIN = ChainContext(name="base", chain_id=8453, w3=Web3(), tokens={})
VENUES = cast(list[VenueEntry], [SimpleNamespace(name="v_ok"), SimpleNamespace(name="v_bad")])
REGISTRY = cast(AdapterRegistry, object())


def config() -> Config:
    return cast(Config, SimpleNamespace(chains={"base": SimpleNamespace(block_time_s=2.0)}))


def test_a_verdict_holds_for_the_blocks_its_facts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = ContractVerifier(reverify_after_s=20.0)  # a fact holds 10 blocks of 2 s after it was read
    judged: list[int] = []

    def judge(cfg: Any, registry: Any, chain: Any, venues: Any, block: int) -> Any:
        judged.append(block)
        facts = verifier._facts[(chain.name, chain.chain_id)]
        if "0xpool" not in facts.codes:  # read once, at the first block it is judged at
            facts.codes["0xpool"] = (block, b"\x60\x80")
            facts.generation += 1
        return {"v_bad": f"refused at {block}"}, {"v_ok": {"router": "0xr"}}, _View(
            codes={"0xpool": facts.codes["0xpool"][1]}, calls={})

    monkeypatch.setattr(verifier, "_judge_all", judge)
    cfg = config()
    assert verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 10) == {"v_bad": "refused at 10"}
    refused = verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 14)
    refused["v_ok"] = "a caller's edit"  # callers get their own copy: the verdict stays as judged
    assert verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 20) == {"v_bad": "refused at 10"}
    assert judged == [10]  # blocks 10..20: the fact read at 10 holds, nothing new was read
    verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 21)  # the fact expired: judged again
    verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 9)  # before the fact was read: judged again
    assert judged == [10, 21, 9]
    verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 12)  # the last verdict's facts hold at 12: reused
    verifier.verify(config(), REGISTRY, CHAIN, VENUES, 12)  # another config object (an edit): judged again
    verifier.verify(cfg, REGISTRY, CHAIN, VENUES[:1], 12)  # other venues: judged again
    assert judged == [10, 21, 9, 12, 12]
    verifier._facts[("base", 8453)].generation += 1  # a read stored new facts: every verdict is judged again
    verifier.verify(cfg, REGISTRY, CHAIN, VENUES, 12)
    assert judged == [10, 21, 9, 12, 12, 12]
