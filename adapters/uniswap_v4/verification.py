"""How a Uniswap V4 venue's contracts are verified: the code each role holds and the links V4 makes between them.

Roles, in the order they are judged, each against its official npm build with its immutables masked (the devnet and
every real deployment fill them from constructor arguments):

* ``pool_manager``: PoolManager (``@uniswap/v4-core``; one immutable, its own address for NoDelegateCall);
* ``state_view``: StateView (``@uniswap/v4-periphery``; the PoolManager, read at twelve places);
* ``universal_router``: UniversalRouter (``@uniswap/universal-router``; Permit2, WETH9, the V2/V3 factories and
  init code hashes, the PoolManager, both position managers, the Across SpokePool: 39 slots, found by walking the
  code since its hardhat artifact lists no immutable references);
* ``permit2``: Permit2's runtime as v4-periphery's permit2 copy embeds it, its chain id and domain separator masked
  (adapters.uniswap.artifacts.permit2_code);
* ``v4_quoter`` when configured: V4Quoter (``@uniswap/v4-periphery``; the PoolManager);
* derived from the router: ``v4_position_manager`` (``universal_router.V4_POSITION_MANAGER()``), a PositionManager
  (``@uniswap/v4-periphery``).

Masked slots compare nothing, so the links pin what they hold where the contract exposes it: StateView, the router
and V4Quoter must answer ``poolManager()`` with the configured PoolManager (else they read or swap in another one),
and the router's ``V4_POSITION_MANAGER()`` must serve that PoolManager and pull through the configured Permit2
(``permit2()``). The router's own Permit2 immutable has no getter: the position manager it was built with stands
in for it, and a pinned ``code_hashes`` entry pins it exactly.

Usage::

    checks = v4_checks(config.pool_manager, config.state_view, config.universal_router, config.permit2,
                       config.v4_quoter)
"""

from __future__ import annotations

from adapters.contract import (
    CodeExpectation,
    LinkCheck,
    LinkKind,
    RoleAddress,
    RoleCheck,
    VenueChecks,
    ViewCall,
)
from adapters.uniswap.artifacts import artifact_code, permit2_code

#: What UniversalRouter's immutable slots hold (its RouterParameters), for refusals' sentences.
ROUTER_EMBEDS = ("permit2", "WETH9", "v2 factory", "v3 factory", "pair init code hash", "pool init code hash",
                 "v4 pool manager", "v3 position manager", "v4 position manager", "spoke pool")


def v4_role_codes() -> dict[str, CodeExpectation]:
    """The code each V4 role must hold, by role name (``v4_quoter`` and the derived ``v4_position_manager``
    included)."""
    return {
        "pool_manager": artifact_code("PoolManager", ("its own address",)),
        "state_view": artifact_code("StateView", ("poolManager",)),
        "universal_router": artifact_code("UniversalRouter", ROUTER_EMBEDS),
        "permit2": permit2_code(),
        "v4_quoter": artifact_code("V4Quoter", ("poolManager",)),
        "v4_position_manager": artifact_code("PositionManager", (
            "poolManager", "permit2", "WETH9", "unsubscribeGasLimit", "tokenDescriptor", "EIP-712 domain")),
    }


def _serves_pool_manager(role: str, says: str = "the configured PoolManager") -> LinkCheck:
    return LinkCheck(call=ViewCall(role=role, signature="poolManager()"), expect=LinkKind.EQUALS,
                     value=RoleAddress(role="pool_manager"), says=says,
                     note="it would read or swap in another PoolManager")


def v4_checks(pool_manager: str, state_view: str, universal_router: str, permit2: str,
              v4_quoter: str | None) -> VenueChecks:
    """The :class:`VenueChecks` of one V4 venue (see the module docstring)."""
    codes = v4_role_codes()
    addresses = {"pool_manager": pool_manager, "state_view": state_view, "universal_router": universal_router,
                 "permit2": permit2} | ({"v4_quoter": v4_quoter} if v4_quoter is not None else {})
    roles = {role: RoleCheck(address=address, code=codes[role]) for role, address in addresses.items()}
    # The router's Permit2 has no getter, but its V4 position manager (a router parameter, readable) does: it
    # belongs to the same deployment, so its PoolManager and Permit2 tie the router to the configured ones.
    position_manager = ViewCall(role="universal_router", signature="V4_POSITION_MANAGER()")
    roles["v4_position_manager"] = RoleCheck(address=position_manager, code=codes["v4_position_manager"])
    links = [_serves_pool_manager(r) for r in ("state_view", "universal_router", "v4_quoter") if r in roles]
    links += [
        _serves_pool_manager("v4_position_manager"),
        LinkCheck(call=ViewCall(role="v4_position_manager", signature="permit2()"), expect=LinkKind.EQUALS,
                  value=RoleAddress(role="permit2"), says="the configured Permit2",
                  note="the venue would approve a Permit2 its deployment does not pull through"),
    ]
    return VenueChecks(roles=roles, links=tuple(links))


__all__ = ["ROUTER_EMBEDS", "v4_checks", "v4_role_codes"]
