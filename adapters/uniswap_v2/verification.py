"""How a Uniswap V2 venue's contracts are verified: the code each role holds and the links V2 makes between them.

Roles, in the order they are judged: ``router`` (UniswapV2Router02, immutables factory and WETH), ``pair``
(UniswapV2Pair, no immutables: its tokens are storage set once by the factory), and, derived from the pair,
``factory`` (``pair.factory()``, a UniswapV2Factory) and ``token0`` / ``token1`` (any code).

Links: the router belongs to the pair's factory (Router02 computes each pair's address from its own factory); the
factory created the configured pair (``factory.getPair(token0, token1) == pair``); both pair tokens are configured
tokens; the router's WETH is the chain's configured wrapped native token; and the router answers
``swapExactTokensForTokens`` with an expired deadline by reverting ``UniswapV2Router: EXPIRED``.

Usage::

    checks = v2_checks(config.pair, config.router, swap_signature=SWAP_EXACT_TOKENS)
"""

from __future__ import annotations

from adapters.contract import ANY_CODE, Const, LinkCheck, LinkKind, RoleAddress, RoleCheck, VenueChecks, ViewCall
from adapters.uniswap.artifacts import artifact_code

_ZERO = "0x" + "00" * 20
#: swapExactTokensForTokens with deadline 0: Router02's ensure(deadline) modifier reverts before anything else.
EXPIRED_SWAP: tuple[int, int, list[str], str, int] = (1, 0, [], _ZERO, 0)
ROUTER02_EXPIRED = "UniswapV2Router: EXPIRED"


def v2_checks(pair: str, router: str, swap_signature: str) -> VenueChecks:
    """The :class:`VenueChecks` of one V2 venue (see the module docstring); the deadline probe calls
    ``swap_signature``, the very function the adapter's swaps call."""
    pair_factory = ViewCall(role="pair", signature="factory()")
    token0, token1 = ViewCall(role="pair", signature="token0()"), ViewCall(role="pair", signature="token1()")
    roles = {
        "router": RoleCheck(address=router, code=artifact_code("UniswapV2Router02", ("factory", "WETH"))),
        "pair": RoleCheck(address=pair, code=artifact_code("UniswapV2Pair")),
        "factory": RoleCheck(address=pair_factory, code=artifact_code("UniswapV2Factory")),
        "token0": RoleCheck(address=token0, code=ANY_CODE),
        "token1": RoleCheck(address=token1, code=ANY_CODE),
    }
    # The pair's own identity first, so a sentence names the pair when it is the one that is wrong.
    links = (
        LinkCheck(call=ViewCall(role="factory", signature="getPair(address,address)", args=(token0, token1)),
                  expect=LinkKind.EQUALS, value=RoleAddress(role="pair"),
                  says="the configured pair", note="its factory did not create it"),
        LinkCheck(call=ViewCall(role="router", signature="factory()"), expect=LinkKind.EQUALS, value=pair_factory,
                  says="the pair's factory",
                  note="a router of another factory swaps in another pair"),
        LinkCheck(call=token0, expect=LinkKind.CONFIGURED_TOKEN, says="a token configured on this chain"),
        LinkCheck(call=token1, expect=LinkKind.CONFIGURED_TOKEN, says="a token configured on this chain"),
        LinkCheck(call=ViewCall(role="router", signature="WETH()"), expect=LinkKind.NATIVE_TOKEN,
                  says="the configured token of the chain's native coin"),
        LinkCheck(call=ViewCall(role="router", signature=swap_signature,
                                 args=tuple(Const(value=v) for v in EXPIRED_SWAP)),
                  expect=LinkKind.REVERTS_WITH, reason=ROUTER02_EXPIRED,
                  says="as UniswapV2Router02 does for an expired deadline"),
    )
    return VenueChecks(roles=roles, links=links)


__all__ = ["EXPIRED_SWAP", "ROUTER02_EXPIRED", "v2_checks"]
