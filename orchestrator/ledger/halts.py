"""The ledger's halts: the kill switch (nothing is signed anywhere) and per-lane halts, each with its reason.

A lane is halted when its ledger and its chain disagree; the kill switch by an operator or a breaker. Both are read
from the verified server only (a stale server's "not halted" must not let a trade through), survive
``clear_namespace``, and are cleared together by ``crosshedge resume``.

Usage::

    ledger.set_halt("operator: market closed")
    ledger.halt_reason()                # the reason, or None when trading is allowed
    ledger.halt_lane("base.desk", "nonce 7 on chain, 6 in the ledger")
"""

from __future__ import annotations

import json
from typing import Any, cast

from orchestrator.ledger.core import LedgerCore, redis_io


class HaltBook(LedgerCore):
    """The kill switch and lane halts."""

    @redis_io
    def set_halt(self, reason: str) -> None:
        self._r.set(self.key("halt"), json.dumps({"reason": reason, "at": self._clock()}))

    @redis_io
    def halt_lane(self, lane: str, reason: str) -> None:
        """Stop one lane (its ledger and its chain disagree): nothing is signed on it until `resume`."""
        self._r.hset(self.key("halt", "lanes"), lane, json.dumps({"reason": reason, "at": self._clock()}))

    @redis_io
    def lane_halt_reason(self, lane: str) -> str | None:
        self.verify_server()
        value = self._r.hget(self.key("halt", "lanes"), lane)
        return None if value is None else str(json.loads(cast(str, value)).get("reason", ""))

    @redis_io
    def halted_lanes(self) -> dict[str, str]:
        raw = cast(dict[str, str], self._r.hgetall(self.key("halt", "lanes")))
        return {lane: str(json.loads(v).get("reason", "")) for lane, v in raw.items()}

    @redis_io
    def clear_halt(self) -> bool:
        """Clear the kill switch and every lane halt; True if anything was set."""
        return bool(self._r.delete(self.key("halt"), self.key("halt", "lanes")))

    @redis_io
    def halt_reasons(self, lane: str | None = None) -> tuple[str | None, str | None]:
        """(the kill switch's reason, ``lane``'s halt reason), each None when not set: ONE round trip, on one
        connection that also asks the server who it is (the verified server's answer only)."""
        pipe = self._r.pipeline(transaction=False)
        if self._expected_server is not None:
            pipe.info("server")
        pipe.get(self.key("halt"))
        if lane is not None:
            pipe.hget(self.key("halt", "lanes"), lane)
        answers = list(pipe.execute())
        if self._expected_server is not None:
            self.check_server(str(cast(dict[str, Any], answers.pop(0)).get("run_id", "")))
        switch, lane_value = answers[0], answers[1] if lane is not None else None
        reason = None if switch is None else str(json.loads(cast(str, switch)).get("reason", "no reason given"))
        lane_reason = None if lane_value is None else str(json.loads(cast(str, lane_value)).get("reason", ""))
        return reason, lane_reason

    @redis_io
    def halt_reason(self) -> str | None:
        """The kill switch's reason, or None when trading is allowed (read from the verified server)."""
        self.verify_server()
        value = self._r.get(self.key("halt"))
        return None if value is None else str(json.loads(cast(str, value)).get("reason", "no reason given"))


__all__ = ["HaltBook"]
