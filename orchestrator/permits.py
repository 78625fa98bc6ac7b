"""A swap through a Permit2 router: its permit checked, its nonce read fresh, signed by the lane, carried in the call.

The venue asks for the permit (adapters' ``Capability.PERMIT2``); before anything is signed it must be exactly the
intent's input (token and amount), for the router the intent calls (``spec.target``, allowlisted), at an
allowlisted Permit2, expiring with the swap's deadline and no later. The nonce is Permit2's
``allowance(owner, token, router).nonce`` at the head (RpcError, retryable, when it cannot be read: nothing is
signed). The kill switch is checked before the permit's signature as before the transaction's. The lane's
:class:`WalletSigner` signs (a refusal is UnsafeTransactionError: terminal), and the venue builds the swap with
it. The permit lives only inside the transaction, so a fee-bump replacement, which re-signs the stored call, carries
the same permit: same nonce, amount and deadline, and the same deterministic signature.

Usage::

    tx = build_swap_with_permit(lane, record, hooks, terms, deadline)   # plain build_swap where no permit is due
"""

from __future__ import annotations

from adapters import PermitRequest, TxRequest, checksum_address, read_permit_nonce
from crosshedge import UnsafeTransactionError
from orchestrator.lane import Hooks, Lane, SwapTerms
from orchestrator.ledger import IntentRecord
from orchestrator.safety import check_not_halted


def build_swap_with_permit(lane: Lane, record: IntentRecord, hooks: Hooks, terms: SwapTerms,
                           deadline: int) -> TxRequest:
    """The swap's transaction: with a permit signed by the lane where its venue needs one, else ``build_swap``."""
    request = hooks.permit_request(record, deadline) if hooks.permit_request is not None else None
    if request is None:
        return hooks.build_swap(record, terms, deadline)
    if hooks.build_permit_swap is None:
        raise UnsafeTransactionError(f"intent {record.spec.id}: its venue needs a permit the sender cannot pass")
    check_permit(record, request, lane.allowlist, deadline)
    nonce = read_permit_nonce(lane.w3, lane.chain, request, lane.signer.address)
    check_not_halted(lane.ledger, lane.name)  # a permit is a signature too: fail closed before it
    permit = lane.signer.sign_permit(request, nonce, lane.settings.chain_id)
    tx = hooks.build_permit_swap(record, terms, deadline, permit)
    if checksum_address(tx.to) != request.spender:
        raise UnsafeTransactionError(f"intent {record.spec.id} (swap on {record.spec.chain}): the swap calls {tx.to}, "
                                     f"not the router {request.spender} its permit is for")
    return tx


def check_permit(record: IntentRecord, request: PermitRequest, allowlist: frozenset[str], deadline: int) -> None:
    """UnsafeTransactionError naming the intent unless ``request`` lets exactly the intent's router pull exactly its
    input at an allowlisted Permit2 until the swap's deadline."""
    spec = record.spec
    where = f"intent {spec.id} (swap on {spec.chain})"
    if request.token != checksum_address(spec.token_in) or request.amount != spec.amount_in_raw:
        raise UnsafeTransactionError(f"{where}: the venue asks a permit for {request.amount} of {request.token}, "
                                     f"not the swap's {spec.amount_in_raw} of {spec.token_in}")
    if request.spender != checksum_address(spec.target) or request.spender not in allowlist:
        raise UnsafeTransactionError(f"{where}: the permit's spender {request.spender} is not the swap's allowlisted "
                                     f"router {spec.target}")
    if request.permit2 not in allowlist:
        raise UnsafeTransactionError(f"{where}: the permit is for {request.permit2}, which is not an allowlisted "
                                     "Permit2 of the chain")
    if request.expiration != deadline or request.sig_deadline != deadline:
        raise UnsafeTransactionError(f"{where}: the permit expires at {request.expiration} (signature "
                                     f"{request.sig_deadline}), not at the swap's deadline {deadline}")


__all__ = ["build_swap_with_permit", "check_permit"]
