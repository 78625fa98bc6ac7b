"""How a route venue's contracts are verified: UniversalRouter, Permit2 and every leg's pool.

Roles: ``router`` (UniversalRouter from ``@uniswap/universal-router``, its immutables masked: Permit2, WETH9, the V2
and V3 factories and init code hashes, the V4 PoolManager and position managers), ``permit2`` (any code: it is
etched, not built from an npm artifact), ``leg1`` … (UniswapV3Pool / UniswapV2Pair from the v3-core / v2-core
artifacts; a V4 leg's is its PoolManager, with ``legN_state_view`` its StateView, both serving the PoolManager the
router swaps in) and ``quoter`` (QuoterV2) when configured. Each leg pool's tokens are derived from it and must be
configured tokens of the chain. The router computes each V3 pool's address from its own factory, so a route whose
pools another factory made would swap elsewhere: that is caught at quote time by the test that executed swaps
deliver the quote, and here by pinning the router's code hash in ``code_hashes``.

Usage::

    checks = route_checks(config)
"""

from __future__ import annotations

from functools import cache

from adapters.contract import (
    ANY_CODE,
    CodeExpectation,
    LinkCheck,
    LinkKind,
    RoleAddress,
    RoleCheck,
    VenueChecks,
    ViewCall,
)
from adapters.uniswap.artifacts import artifact_code, node_modules, runtime_code
from adapters.uniswap_route.config import UniswapRouteConfig, V4LegConfig
from adapters.uniswap_v4.verification import v4_role_codes

_UNIVERSAL_ROUTER = "@uniswap/universal-router/artifacts/contracts/UniversalRouter.sol/UniversalRouter.json"
_ROUTER_EMBEDS = ("permit2", "WETH9", "v2 factory", "v3 factory", "pair init code hash", "pool init code hash",
                  "v4 pool manager", "v3 position manager", "v4 position manager")


@cache
def universal_router_code() -> CodeExpectation:
    """The code a route's ``router`` must hold: UniversalRouter (@uniswap/universal-router)."""
    label = "UniversalRouter (@uniswap/universal-router)"
    path = node_modules() / _UNIVERSAL_ROUTER
    try:
        return CodeExpectation.of_runtime(label, runtime_code(path), _ROUTER_EMBEDS)
    except OSError:
        return CodeExpectation(contract=label, embeds=_ROUTER_EMBEDS, unavailable=f"{path} is missing (run `npm ci`)")
    except ValueError as exc:
        return CodeExpectation(contract=label, embeds=_ROUTER_EMBEDS, unavailable=f"{path} is not usable: {exc}")


def route_checks(config: UniswapRouteConfig) -> VenueChecks:
    """The :class:`VenueChecks` of one route venue (see the module docstring)."""
    roles = {"router": RoleCheck(address=config.router, code=universal_router_code()),
             "permit2": RoleCheck(address=config.permit2, code=ANY_CODE)}
    links: list[LinkCheck] = []
    for i, leg in enumerate(config.legs):
        role = f"leg{i + 1}"
        if isinstance(leg, V4LegConfig):
            roles |= _v4_leg_roles(role, leg)
            links += [_serves(role, f"{role}_state_view"), _serves(role, "router")]
            continue
        code = (artifact_code("UniswapV3Pool", ("factory", "token0", "token1", "fee", "tickSpacing",
                                                "maxLiquidityPerTick", "its own address"))
                if leg.kind == "uniswap_v3" else artifact_code("UniswapV2Pair"))
        roles[role] = RoleCheck(address=leg.pool, code=code)
        for token in ("token0()", "token1()"):
            links.append(LinkCheck(call=ViewCall(role=role, signature=token), expect=LinkKind.CONFIGURED_TOKEN,
                                   says="a configured token", note="a route trades configured tokens only"))
    if config.quoter is not None:
        roles["quoter"] = RoleCheck(address=config.quoter, code=artifact_code("QuoterV2", ("factory", "WETH9")))
    return VenueChecks(roles=roles, links=tuple(links))


def _v4_leg_roles(role: str, leg: V4LegConfig) -> dict[str, RoleCheck]:
    codes = v4_role_codes()
    return {role: RoleCheck(address=leg.pool_manager, code=codes["pool_manager"]),
            f"{role}_state_view": RoleCheck(address=leg.state_view, code=codes["state_view"])}


def _serves(leg_role: str, role: str) -> LinkCheck:
    """``role``'s poolManager() is the V4 leg's PoolManager."""
    return LinkCheck(call=ViewCall(role=role, signature="poolManager()"), expect=LinkKind.EQUALS,
                     value=RoleAddress(role=leg_role), says=f"{leg_role}'s PoolManager",
                     note="it would read or swap the leg in another PoolManager")


__all__ = ["route_checks", "universal_router_code"]
