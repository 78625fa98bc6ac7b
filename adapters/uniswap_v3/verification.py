"""How a Uniswap V3 venue's contracts are verified: the code each role holds and the links V3 makes between them.

Roles, in the order they are judged:

* ``router``: SwapRouter (immutables factory, WETH9); ``pool``: UniswapV3Pool (factory, token0, token1, fee,
  tickSpacing, maxLiquidityPerTick, and its own address for NoDelegateCall); ``quoter`` when configured: QuoterV2;
* derived from the pool: ``factory`` (``pool.factory()``, a UniswapV3Factory, whose one immutable is its own
  address) and ``token0`` / ``token1`` (any code).

Links: the router and the quoter belong to the pool's factory (SwapRouter computes each pool's address from its own
factory, so a router of another factory would swap in another pool); the factory created the configured pool
(``factory.getPool(token0, token1, fee) == pool``); both pool tokens are configured tokens; the router's WETH9 is
the chain's configured wrapped native token and the quoter's is the same; and the router answers
``exactInputSingle`` with an expired deadline by reverting ``Transaction too old``, as only a SwapRouter does
(this tells a router from a quoter or position manager even when ``code_hashes`` pins the address).

Usage::

    checks = v3_checks(config.pool, config.router, config.quoter, swap_signature=EXACT_INPUT_SINGLE)
"""

from __future__ import annotations

from adapters.contract import ANY_CODE, Const, LinkCheck, LinkKind, RoleAddress, RoleCheck, VenueChecks, ViewCall
from adapters.uniswap.artifacts import artifact_code

_ZERO = "0x" + "00" * 20
#: exactInputSingle with deadline 0: SwapRouter's checkDeadline modifier reverts before anything else runs.
EXPIRED_SWAP = (_ZERO, _ZERO, 0, _ZERO, 0, 1, 0, 0)
SWAP_ROUTER_EXPIRED = "Transaction too old"


def _call(role: str, signature: str, *args: RoleAddress | Const | ViewCall, returns: str = "address") -> ViewCall:
    return ViewCall(role=role, signature=signature, returns=returns, args=args)


def v3_checks(pool: str, router: str, quoter: str | None, swap_signature: str) -> VenueChecks:
    """The :class:`VenueChecks` of one V3 venue (see the module docstring); the deadline probe calls
    ``swap_signature``, the very function the adapter's swaps call."""
    pool_factory = _call("pool", "factory()")
    token0, token1 = _call("pool", "token0()"), _call("pool", "token1()")
    fee = _call("pool", "fee()", returns="uint24")
    roles = {
        "router": RoleCheck(address=router, code=artifact_code("SwapRouter", ("factory", "WETH9"))),
        "pool": RoleCheck(address=pool, code=artifact_code("UniswapV3Pool", (
            "factory", "token0", "token1", "fee", "tickSpacing", "maxLiquidityPerTick", "its own address"))),
    }
    if quoter is not None:
        roles["quoter"] = RoleCheck(address=quoter, code=artifact_code("QuoterV2", ("factory", "WETH9")))
    roles |= {
        "factory": RoleCheck(address=pool_factory, code=artifact_code("UniswapV3Factory", ("its own address",))),
        "token0": RoleCheck(address=token0, code=ANY_CODE),
        "token1": RoleCheck(address=token1, code=ANY_CODE),
    }
    router_weth = _call("router", "WETH9()")
    # The pool's own identity first, so a sentence names the pool when it is the one that is wrong.
    links = [
        LinkCheck(call=_call("factory", "getPool(address,address,uint24)", token0, token1, fee),
                  expect=LinkKind.EQUALS, value=RoleAddress(role="pool"),
                  says="the configured pool", note="its factory did not create it"),
        LinkCheck(call=_call("router", "factory()"), expect=LinkKind.EQUALS, value=pool_factory,
                  says="the pool's factory",
                  note="a router of another factory swaps in another pool"),
        LinkCheck(call=token0, expect=LinkKind.CONFIGURED_TOKEN, says="a token configured on this chain"),
        LinkCheck(call=token1, expect=LinkKind.CONFIGURED_TOKEN, says="a token configured on this chain"),
        LinkCheck(call=router_weth, expect=LinkKind.NATIVE_TOKEN,
                  says="the configured token of the chain's native coin"),
        LinkCheck(call=_call("router", swap_signature, Const(value=list(EXPIRED_SWAP))),
                  expect=LinkKind.REVERTS_WITH, reason=SWAP_ROUTER_EXPIRED,
                  says="as a SwapRouter does for an expired deadline"),
    ]
    if quoter is not None:
        links += [
            LinkCheck(call=_call("quoter", "factory()"), expect=LinkKind.EQUALS, value=pool_factory,
                      says="the pool's factory"),
            LinkCheck(call=_call("quoter", "WETH9()"), expect=LinkKind.EQUALS, value=router_weth,
                      says="the router's WETH9"),
        ]
    return VenueChecks(roles=roles, links=tuple(links))


__all__ = ["EXPIRED_SWAP", "SWAP_ROUTER_EXPIRED", "v3_checks"]
