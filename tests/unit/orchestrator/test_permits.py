"""What the sender checks in a venue's Permit2 permit before the lane signs it."""

from __future__ import annotations

import pytest

from adapters import PermitRequest, Side
from crosshedge import UnsafeTransactionError
from orchestrator import Intent, IntentKind, IntentRecord, IntentState, check_permit

PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
ROUTER = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
OTHER = "0x" + "99" * 20
DEADLINE = 1_900_000_000
ALLOWLIST = frozenset({PERMIT2, "0x1111111111111111111111111111111111111111",
                       "0x2222222222222222222222222222222222222222"})


def _swap() -> IntentRecord:
    spec = Intent(id="r.base.1", run_id="r", seq=1, kind=IntentKind.SWAP, chain="base", wallet="operator",
                  sender=OTHER, target=ROUTER, token_in=TOKEN, amount_in_raw=10**18, venue="v4", side=Side.SELL,
                  min_amount_out_raw=1, notional_usd=3000.0)
    return IntentRecord(spec=spec, state=IntentState.PLANNED)


def _request(**changes: object) -> PermitRequest:
    fields: dict[str, object] = {"permit2": PERMIT2, "token": TOKEN, "spender": ROUTER, "amount": 10**18,
                                 "expiration": DEADLINE, "sig_deadline": DEADLINE, **changes}
    return PermitRequest.model_validate(fields)


def test_the_exact_permit_passes() -> None:
    check_permit(_swap(), _request(), ALLOWLIST, DEADLINE)


@pytest.mark.parametrize(("changes", "message"), [
    ({"amount": 10**18 + 1}, "asks a permit for 1000000000000000001 of"),
    ({"token": OTHER}, "asks a permit for"),
    ({"spender": OTHER}, "is not the swap's allowlisted router"),
    ({"permit2": OTHER}, "which is not an allowlisted Permit2"),
    ({"expiration": DEADLINE + 1}, "not at the swap's deadline"),
    ({"sig_deadline": DEADLINE + 3600}, "not at the swap's deadline"),
])
def test_anything_else_is_refused_naming_the_intent(changes: dict[str, object], message: str) -> None:
    with pytest.raises(UnsafeTransactionError, match=f"intent r.base.1 \\(swap on base\\): .*{message}"):
        check_permit(_swap(), _request(**changes), ALLOWLIST, DEADLINE)
