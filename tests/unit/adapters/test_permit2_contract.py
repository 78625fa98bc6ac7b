"""The Permit2 capability in the adapter contract: declared members are required, with the protocol's parameters."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from adapters import Capability, check_static, static_problems
from crosshedge import AdapterConformanceError


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _PermitVenue:
    name = "permit_venue"
    kind = "venue"
    config_model = _Settings
    capabilities = frozenset({Capability.PERMIT2})

    def contracts(self, venue: object) -> None: ...

    def verification(self, venue: object) -> None: ...

    def read(self, chain: object, venues: object, block: object) -> list[object]:
        return []

    def quote(self, state: object, side: object, amount_in: object) -> int:
        return 0

    def build_swap(self, state: object, side: object, amount_in: object, min_amount_out: object, recipient: object,
                   deadline: object) -> None: ...

    def parse_receipt(self, state: object, receipt: object) -> None: ...

    def permit_request(self, state: object, side: object, amount_in: object, deadline: object) -> None: ...


def test_a_permit2_venue_without_build_permit_swap_is_refused_naming_it() -> None:
    with pytest.raises(AdapterConformanceError, match="declares capability permit2 but lacks build_permit_swap"):
        check_static(_PermitVenue())


def test_build_permit_swap_must_take_the_signed_permit() -> None:
    class NoPermitParam(_PermitVenue):
        def build_permit_swap(self, state: object, side: object, amount_in: object, min_amount_out: object,
                              recipient: object, deadline: object) -> None: ...

    problems = static_problems(NoPermitParam())
    assert [p for p in problems if p.startswith("build_permit_swap(")], problems

    class Complete(_PermitVenue):
        def build_permit_swap(self, state: object, side: object, amount_in: object, min_amount_out: object,
                              recipient: object, deadline: object, permit: object) -> None: ...

    assert static_problems(Complete()) == []


def test_a_venue_without_the_capability_needs_no_permit_members() -> None:
    class Plain(_PermitVenue):
        capabilities = frozenset()

    assert static_problems(Plain()) == []
