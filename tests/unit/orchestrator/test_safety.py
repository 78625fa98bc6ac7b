"""Kill switch (fail closed), circuit breakers and the run lock."""

from __future__ import annotations

import pytest
import redis

from crosshedge import CircuitBreakerError, HaltedError
from orchestrator import Ledger
from orchestrator.safety import (
    KillSwitch,
    RunLock,
    check_gas_price,
    check_not_halted,
    check_notional,
    check_price_move,
    deviating_venues,
)


def test_kill_switch_halts_and_resumes(ledger: Ledger) -> None:
    check_not_halted(ledger)
    KillSwitch(ledger).halt("desk says stop")
    with pytest.raises(HaltedError, match="desk says stop"):
        check_not_halted(ledger)
    assert KillSwitch(ledger).resume()
    check_not_halted(ledger)


def test_lane_halts_and_the_kill_switch_are_read_together(ledger: Ledger) -> None:
    check_not_halted(ledger, "base.desk")
    ledger.halt_lane("base.desk", "nonce 7 on chain, 6 in the ledger")
    assert ledger.halt_reasons("base.desk") == (None, "nonce 7 on chain, 6 in the ledger")
    assert ledger.halt_reasons("arbitrum.desk") == (None, None) and ledger.halt_reasons() == (None, None)
    with pytest.raises(HaltedError, match=r"lane base\.desk is halted: nonce 7"):
        check_not_halted(ledger, "base.desk")
    check_not_halted(ledger, "arbitrum.desk")
    KillSwitch(ledger).halt("desk says stop")
    assert ledger.halt_reasons("base.desk") == ("desk says stop", "nonce 7 on chain, 6 in the ledger")
    with pytest.raises(HaltedError, match="kill switch is set: desk says stop"):
        check_not_halted(ledger, "arbitrum.desk")


def test_a_server_other_than_the_ledgers_own_halts_everything(rclient: redis.Redis) -> None:
    actual = str(rclient.info("server")["run_id"])
    ours = Ledger(rclient, prefix="t", expected_server=lambda: actual)
    check_not_halted(ours, "base.desk")  # the server asked in the same round trip is the expected one
    stale = Ledger(rclient, prefix="t", expected_server=lambda: "0" * 40)
    with pytest.raises(HaltedError, match="stale server"):
        check_not_halted(stale, "base.desk")
    unknown = Ledger(rclient, prefix="t", expected_server=lambda: None)
    with pytest.raises(HaltedError, match="stale server"):
        check_not_halted(unknown)


def test_kill_switch_fails_closed_when_redis_is_unreachable() -> None:
    dead = Ledger(redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.2), prefix="x")
    with pytest.raises(HaltedError, match="refusing to sign"):
        check_not_halted(dead)


def test_venue_deviation_flags_the_outlier_only() -> None:
    mids = {"a": ("ETH", 3000.0), "b": ("ETH", 3003.0), "c": ("ETH", 2998.0), "d": ("ETH", 3300.0),
            "x": ("BTC", 60000.0), "y": ("BTC", 90000.0)}  # two BTC venues: no meaningful median
    flagged = deviating_venues(mids, max_bps=150)
    assert set(flagged) == {"d"} and flagged["d"] == pytest.approx(abs(3300 / 3001.5 - 1) * 1e4)


def test_price_move_gas_and_notional_breakers() -> None:
    check_price_move("v", 3000.0, 3010.0, max_bps=50)
    with pytest.raises(CircuitBreakerError, match=r"moved 100\.0 bp"):
        check_price_move("v", 3000.0, 3030.0, max_bps=50)
    check_gas_price("ethereum", 100 * 10**9, max_gwei=100)
    with pytest.raises(CircuitBreakerError, match="above the cap of 100 gwei"):
        check_gas_price("ethereum", 100 * 10**9 + 1, max_gwei=100)
    check_notional(100.0, 0.0, per_run=100.0, per_day=200.0)
    with pytest.raises(CircuitBreakerError, match="per-run cap"):
        check_notional(101.0, 0.0, per_run=100.0, per_day=200.0)
    with pytest.raises(CircuitBreakerError, match="per-day cap"):
        check_notional(100.0, 150.0, per_run=100.0, per_day=200.0)


def test_one_run_at_a_time(ledger: Ledger) -> None:
    lock = RunLock(ledger, ttl_s=60)
    assert lock.acquire("r1") and not lock.acquire("r2")
    assert lock.holder() == "r1"
    lock.release("r1")
    assert lock.acquire("r2")
