"""Fee-bump arithmetic and the pre-signing refusals (chain id, allowlist, amounts, deadline)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import Side, TxRequest
from crosshedge import UnsafeTransactionError
from orchestrator import Intent, IntentKind, IntentRecord, IntentState, approve_tx, bump_fees, validate_tx

ROUTER = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
OTHER = "0x" + "99" * 20
GWEI = 10**9


@given(fee=st.integers(1, 10**13), tip=st.integers(0, 10**11), base=st.integers(0, 10**13),
       cap=st.integers(1, 10**14))
def test_bump_is_at_least_12_5_percent_on_both_or_refused(fee: int, tip: int, base: int, cap: int) -> None:
    tip = min(tip, fee)
    out = bump_fees(fee, tip, base, 12.5, 2.0, cap)
    if out is None:
        assert cap < max(fee * 1.125, fee + 1) or cap < max(tip * 1.125, tip + 1)
        return
    new_fee, new_tip = out
    assert new_fee >= fee * 1.125 and new_tip >= tip * 1.125
    assert new_fee > fee and new_tip > tip and new_tip <= new_fee <= cap


def test_bump_follows_a_base_fee_spike() -> None:
    new_fee, new_tip = bump_fees(40 * GWEI, 1 * GWEI, 200 * GWEI, 12.5, 2.0, 1000 * GWEI) or (0, 0)
    assert new_fee == 400 * GWEI + new_tip and new_tip == 1_125_000_000
    assert bump_fees(40 * GWEI, 1 * GWEI, 200 * GWEI, 12.5, 2.0, 44 * GWEI) is None  # the cap leaves no room


def swap(amount: int = 10**18, min_out: int = 1, notional: float = 3000.0) -> IntentRecord:
    spec = Intent(id="r.eth.1", run_id="r", seq=1, kind=IntentKind.SWAP, chain="ethereum", wallet="operator",
                  sender=OTHER, target=ROUTER, token_in=TOKEN, amount_in_raw=amount, venue="v", side=Side.SELL,
                  min_amount_out_raw=min_out, notional_usd=notional)
    return IntentRecord(spec=spec, state=IntentState.PLANNED)


def call(chain_id: int = 1, to: str = ROUTER, value: int = 0) -> TxRequest:
    return TxRequest(chain_id=chain_id, to=to, data="0x1234", value=value)


ALLOWLIST = frozenset({"0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"})


def test_a_good_swap_passes() -> None:
    validate_tx(swap(), call(), 1, ALLOWLIST, now=1000.0, deadline=1300, max_trade_usd=1e6)


@pytest.mark.parametrize(("record", "tx", "deadline", "message"), [
    (swap(), call(chain_id=42161), 1300, "for chain id 42161, chain ethereum is 1"),
    (swap(), call(to=OTHER), 1300, "not an allowlisted router or token"),
    (swap(), call(value=1), 1300, "native value"),
    (swap(amount=0), call(), 1300, "amount in must be positive"),
    (swap(amount=2**255), call(), 1300, "amount in must be positive"),
    (swap(notional=5e9), call(), 1300, "outside"),
    (swap(notional=float("nan")), call(), 1300, "outside"),
    (swap(min_out=0), call(), 1300, "amountOutMinimum must be positive"),
    (swap(), call(), 999, "deadline 999 is not in the future"),
    (swap(), call(), None, "deadline None"),
])
def test_unsafe_calls_are_refused_before_signing(record: IntentRecord, tx: TxRequest, deadline: int | None,
                                                 message: str) -> None:
    with pytest.raises(UnsafeTransactionError, match=message):
        validate_tx(record, tx, 1, ALLOWLIST, now=1000.0, deadline=deadline, max_trade_usd=1e6)


def test_negative_amount_cannot_even_be_planned() -> None:
    record = swap(amount=-5)
    with pytest.raises(UnsafeTransactionError, match="-5"):
        validate_tx(record, call(), 1, ALLOWLIST, now=1000.0, deadline=1300, max_trade_usd=1e6)


def test_approval_spender_must_be_allowlisted() -> None:
    spec = Intent(id="r.eth.0", run_id="r", seq=0, kind=IntentKind.APPROVE, chain="ethereum", wallet="operator",
                  sender=OTHER, target=TOKEN, token_in=TOKEN, amount_in_raw=5, spender=OTHER)
    record = IntentRecord(spec=spec, state=IntentState.PLANNED)
    tx = approve_tx(1, TOKEN, OTHER, 5)
    assert tx.data.startswith("0x095ea7b3") and tx.data.endswith(f"{5:064x}")
    with pytest.raises(UnsafeTransactionError, match="spender"):
        validate_tx(record, tx, 1, ALLOWLIST, now=0.0, deadline=None, max_trade_usd=1e6)


def deposit(destination: str | None = "base", min_out: int = 999) -> IntentRecord:
    spec = Intent(id="r.eth.3", run_id="r", seq=3, kind=IntentKind.DEPOSIT, chain="ethereum", wallet="operator",
                  sender=OTHER, target=ROUTER, token_in=TOKEN, amount_in_raw=1000, adapter="across",
                  destination=destination, route="ethereum->base/USDC", min_amount_out_raw=min_out,
                  notional_usd=0.001)
    return IntentRecord(spec=spec, state=IntentState.PLANNED)


def test_a_deposit_carries_its_own_fill_deadline_but_the_same_checks_as_a_swap() -> None:
    validate_tx(deposit(), call(), 1, ALLOWLIST, now=1000.0, deadline=None, max_trade_usd=1e6)
    with pytest.raises(UnsafeTransactionError, match="must name another chain as its destination"):
        validate_tx(deposit(destination="ethereum"), call(), 1, ALLOWLIST, now=1000.0, deadline=None,
                    max_trade_usd=1e6)
    with pytest.raises(UnsafeTransactionError, match="amountOutMinimum must be positive"):
        validate_tx(deposit(min_out=0), call(), 1, ALLOWLIST, now=1000.0, deadline=None, max_trade_usd=1e6)
    with pytest.raises(UnsafeTransactionError, match="not an allowlisted router or token"):
        validate_tx(deposit(), call(to=OTHER), 1, ALLOWLIST, now=1000.0, deadline=None, max_trade_usd=1e6)
