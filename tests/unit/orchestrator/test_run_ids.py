"""Run ids: one per trigger at full resolution; a beat slot (or a caller's key) keeps one run per slot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crosshedge import InputError
from orchestrator import Ledger, finish_run, make_run_id, start_run
from orchestrator.runs import RunExistsError  # the reconcile task tells a duplicate start from a busy lock by it
from tests.unit.orchestrator.stage_helpers import context

T = 1_700_000_010.0  # 2023-11-14T22:13:30Z, a multiple of 30 s


def test_a_beat_slot_is_one_id_at_full_resolution() -> None:
    # The demo's old 0.25 s slots: ids cut to whole seconds gave four slots one id (and refused three hedges).
    ids = [make_run_id("beat", T + i * 0.25, slot_s=0.25) for i in range(8)]
    assert len(set(ids)) == 8
    assert ids[:2] == ["beat-20231114T221330.000", "beat-20231114T221330.250"]
    # Every tick inside one slot, a redelivered one included, maps to the slot's run.
    assert {make_run_id("beat", T + dt, slot_s=30) for dt in (0.001, 12.5, 29.99)} == {"beat-20231114T221330.000"}
    assert make_run_id("beat", T + 30.01, slot_s=30) == "beat-20231114T221400.000"


def test_slot_ids_survive_float_noise_and_sub_millisecond_slots() -> None:
    # 0.1 s slots: the slot start is index x 0.1, never exact in binary; the id must still name its own slot.
    ids = [make_run_id("beat", T + i / 10 + 0.05, slot_s=0.1) for i in range(20)]
    assert len(set(ids)) == 20
    assert all(re.fullmatch(r"beat-20231114T2213(30|31)\.\d00", i) for i in ids)
    micro = {make_run_id("beat", T + (i + 0.5) * 0.0005, slot_s=0.0005) for i in range(10)}
    assert len(micro) == 10  # shorter than a millisecond: microseconds


def test_a_key_is_the_callers_own_slot() -> None:
    assert make_run_id("beat", T, slot_s=30, key="demo-20220612T010000") == "beat-demo-20220612T010000"
    assert make_run_id("beat", T + 999, key="demo-20220612T010000") == "beat-demo-20220612T010000"
    for bad in ("", "a:b", "a|b", "a b", "x" * 65):
        with pytest.raises(InputError, match="run id key"):
            make_run_id("beat", T, key=bad)
    with pytest.raises(InputError, match="slot"):
        make_run_id("beat", T, slot_s=0.0)


def test_one_off_triggers_never_share_an_id() -> None:
    ids = {make_run_id("manual", T) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"manual-20231114T221330\.000-[0-9a-f]{6}", i) for i in ids)


def test_two_rebalances_in_one_second_are_two_runs(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, now=T + 0.4)
    first = start_run(ctx, kind="manual")
    finish_run(ctx, first)
    second = start_run(ctx, kind="manual")  # the same clock second: it used to be "already started"
    assert second != first and memory_ledger.has_run(second)


def test_a_repeated_slot_is_refused_as_already_started(tmp_path: Path, memory_ledger: Ledger) -> None:
    ctx = context(tmp_path, memory_ledger, now=T)
    run_id = make_run_id("beat", ctx.clock(), key="demo-20220612T010000")
    start_run(ctx, kind="beat", run_id=run_id)
    finish_run(ctx, run_id)
    with pytest.raises(RunExistsError, match="already started"):
        start_run(ctx, kind="beat", run_id=make_run_id("beat", ctx.clock() + 5, key="demo-20220612T010000"))
