"""Bad input is refused before signing, with a clear error, against a real chain: nothing is signed or sent."""

from __future__ import annotations

import pytest
from web3 import Web3

from adapters import Side, TxRequest, connect
from crosshedge import ChainMismatchError, UnsafeTransactionError
from crosshedge.config import ChainSettings
from orchestrator import (
    Hooks,
    Intent,
    IntentKind,
    IntentRecord,
    IntentState,
    Snapshot,
    SwapTerms,
    execute_intent,
    hooks_for,
)
from tests.integration.orchestra import Orchestra

pytestmark = pytest.mark.integration

STRANGER = Web3.to_checksum_address("0x" + "de" * 20)


def intent(orch: Orchestra, seq: int, **changes: object) -> Intent:
    chain = orch.config.chains["arbitrum"]
    weth = chain.tokens["WETH"].address
    router = next(v.config.model_dump()["router"] for v in orch.config.venues_on("arbitrum"))
    base = {"id": f"bad.arbitrum.{seq}", "run_id": "bad", "seq": seq, "kind": IntentKind.APPROVE,
            "chain": "arbitrum", "wallet": chain.wallet, "sender": orch.config.wallets[chain.wallet].address,
            "target": weth, "token_in": weth, "amount_in_raw": 10**18, "spender": router, "notional_usd": 3000.0}
    return Intent(**{**base, **changes})


@pytest.mark.parametrize(("changes", "message"), [
    ({"spender": STRANGER}, "not an allowlisted router"),
    ({"target": STRANGER, "token_in": STRANGER}, "not an allowlisted router or token"),
    ({"amount_in_raw": 0}, "amount in must be positive"),
    ({"amount_in_raw": -5}, "amount in must be positive"),
    ({"amount_in_raw": 2**255}, "amount in must be positive"),
    ({"notional_usd": 5e12}, "outside"),
    ({"kind": IntentKind.SWAP, "venue": "v2_weth_usdc", "adapter": "uniswap_v2", "side": Side.SELL,
      "min_amount_out_raw": 0, "token_out": STRANGER}, "amountOutMinimum must be positive"),
])
def test_refused_before_signing(fresh_idle: Orchestra, changes: dict[str, object], message: str) -> None:
    fresh = fresh_idle  # no worker: the lane is driven here, in the test
    ctx = fresh.ctx()
    ctx.ledger.create_run("bad", kind="test")
    bad = intent(fresh, 0, **changes)
    ctx.ledger.add_intents("bad", [bad])
    ctx.ledger.put_blob("bad", "snapshot", Snapshot(taken_at=0.0, chains={}))  # no venue state is needed
    sender = Web3.to_checksum_address(bad.sender)
    before = fresh.w3("arbitrum").eth.get_transaction_count(sender)
    lane = ctx.lane("arbitrum")
    hooks = hooks_for(ctx, "bad", "arbitrum")
    # Terms as a fresh read would give them, carrying the intent's own figures: the refusal under test is the
    # sender's, not the venue's.
    hooks = Hooks(prepare_swap=lambda r: SwapTerms(min_amount_out=r.spec.min_amount_out_raw, expected_out=1,
                                                   notional_usd=r.spec.notional_usd),
                  build_swap=lambda r, terms, d: _swap_call(fresh, r, d), parse_fill=hooks.parse_fill)
    with pytest.raises(UnsafeTransactionError, match=message):
        execute_intent(lane, bad.id, hooks)
    record = ctx.ledger.intent(bad.id)
    assert record.state is IntentState.FAILED and message.split(maxsplit=1)[0] in record.error
    assert record.attempts == () and record.nonce is None
    assert fresh.w3("arbitrum").eth.get_transaction_count(sender) == before


def _swap_call(orch: Orchestra, record: IntentRecord, deadline: int) -> TxRequest:
    router = next(v.config.model_dump()["router"] for v in orch.config.venues_on("arbitrum"))
    return TxRequest(chain_id=42161, to=router, data="0x")


def test_wrong_chain_id_is_refused_on_connect(fresh_idle: Orchestra) -> None:
    chains = dict(fresh_idle.config.raw.chains)
    wrong: ChainSettings = chains["base"].model_copy(update={"chain_id": 10})
    with pytest.raises(ChainMismatchError, match="serves chain id 8453, expected 10"):
        connect("base", wrong)
