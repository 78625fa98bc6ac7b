"""The demo without chains: its options are checked before anything starts, a failed hour is shown and counted,
the plot's title tells the truth, and the exit code says how it ended. The live demo is in
tests/integration/crosshedge/test_demo.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import fakeredis
import pytest
import yaml
from typer.testing import CliRunner, Result
from web3 import Web3

from crosshedge.cli import app
from crosshedge.demo import (
    BlockClock,
    DemoOptionError,
    DemoOptions,
    DemoResult,
    DemoStep,
    follow_run,
    funding_paid,
    headline,
    plot_steps,
    price_paths,
    run_chain,
    step_key,
    summary_rows,
)
from crosshedge.demo.driver import clear_outputs
from crosshedge.errors import ExecutionError
from orchestrator import Ledger, RunState, fail_run, start_run
from tests.unit.orchestrator.stage_helpers import context

REPO = Path(__file__).resolve().parents[3]
DEVNET_PRICES = {"ETH": 3000.0, "BTC": 60000.0}


def write_prices(folder: Path, rows: int = 6, btc_gap: str | None = None) -> Path:
    """Tiny hourly price files in the demo's layout (BTC without the hour ``btc_gap``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, base in (("ethusdt_1h.csv", 2000.0), ("btcusdt_1h.csv", 40000.0)):
        lines = ["timestamp,open,high,low,close,volume"]
        for h in range(rows):
            ts = f"2022-01-01 {h:02d}:00:00"
            if name.startswith("btc") and ts == btc_gap:
                continue
            lines.append(f"{ts},1,1,1,{base * (1 + h / 100)},1")
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def opts(data: Path, steps: int = 24, start: str = "2022-06-12 00:00:00") -> DemoOptions:
    return DemoOptions(config_path=Path("chains.yaml"), data_dir=data, steps=steps, start=start)


def test_the_path_starts_at_the_devnet_prices_and_matches_hours_across_files(tmp_path: Path) -> None:
    data = write_prices(tmp_path, rows=6, btc_gap="2022-01-01 02:00:00")
    path = price_paths(opts(data, steps=3, start="2022-01-01 00:00:00"), DEVNET_PRICES)
    assert [t for t, _ in path] == ["2022-01-01 01:00:00", "2022-01-01 03:00:00", "2022-01-01 04:00:00"]
    assert path[0][1]["ETH"] == pytest.approx(3000.0 * 1.01)  # the hour before step 0 anchors the devnet's 3000
    assert path[1][1]["BTC"] == pytest.approx(60000.0 * 1.03)
    # --start is read as UTC, in any ISO form (a date alone is midnight, a zone is converted).
    same = price_paths(opts(data, steps=3, start="2022-01-01T01:00:00+01:00"), DEVNET_PRICES)
    assert same == path


@pytest.mark.parametrize(("steps", "start", "words"), [
    (0, "2022-01-01 00:00:00", ["--steps", "0", "1 or more"]),
    (-3, "2022-01-01 00:00:00", ["--steps", "-3"]),
    (3, "1999-01-01", ["--start", "1999-01-01 00:00:00", "2022-01-01 00:00:00 to 2022-01-01 05:00:00"]),
    (3, "2030-01-01", ["--start", "outside the price data"]),
    (3, "yesterday", ["--start", "'yesterday'", "is not a date"]),
    (9, "2022-01-01 00:00:00", ["--steps", "9 hours", "give --steps 5 or less"]),
    (1, "2022-01-01 05:00:00", ["--start", "leaves no hour"]),
])
def test_bad_options_are_one_sentence_naming_the_option(tmp_path: Path, steps: int, start: str,
                                                        words: list[str]) -> None:
    with pytest.raises(DemoOptionError) as caught:
        price_paths(opts(write_prices(tmp_path), steps=steps, start=start), DEVNET_PRICES)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_steps_are_checked_before_the_price_files_are_read(tmp_path: Path) -> None:
    with pytest.raises(DemoOptionError, match="--steps"):
        price_paths(opts(tmp_path / "missing", steps=0), DEVNET_PRICES)


def step(i: int, *, fired: bool = True, after: float = 1.0, error: str = "", state: str = "reconciled",
         cost: float = 10.0) -> DemoStep:
    band = {"ETH": (-2.0, 2.0)}
    return DemoStep(step=i, timestamp=f"2022-01-01 {i:02d}:00:00", prices={"ETH": 3000.0},
                    delta_before={"ETH": 5.0 if fired else 1.0}, delta_after={"ETH": after}, band=band,
                    fired=fired, reason="r", run_id=f"r{i}" if fired else None, run_ids=[f"r{i}"] if fired else [],
                    run_state=state if fired else None, error=error,
                    outside_band=[] if -2.0 <= after <= 2.0 else ["ETH"], trades=2 if fired else 0,
                    cost_usd=cost if fired else 0.0)


def test_the_title_says_kept_in_band_only_when_every_hedged_hour_was() -> None:
    good = [step(0), step(1, fired=False), step(2, after=-1.9)]
    assert "kept in band" in headline(good) and "all 2 hedged hours" in headline(good)
    one_out = [*good, step(3, after=2.5)]
    assert "kept in band" not in headline(one_out)
    assert "1 of 3 hedged hours ended outside the band" in headline(one_out)
    failed = [*good, step(3, after=5.0, error="run r3: cannot sell 206 ETH of delta", state="failed")]
    assert "kept in band" not in headline(failed)
    assert "all 2 hedged hours ended in band; 1 hour could not be hedged" in headline(failed)
    assert "halted after hour 3" in headline(good, halted="kill switch is set")


def test_a_failed_hour_is_counted_apart_from_the_hedged_ones(tmp_path: Path) -> None:
    steps = [step(0), step(1, after=5.0, error="run r1: no plan", state="failed", cost=0.0), step(2, fired=False)]
    rows = summary_rows(steps)
    assert rows["hours_hedged"] == 1 and rows["hours_failed"] == 1 and rows["hedged_hours_outside_band"] == 0
    assert rows["realised_cost_usd"] == 10.0 and rows["runs"] == 2
    assert steps[1].failed and not steps[1].hedged and not steps[2].failed
    assert plot_steps(steps, tmp_path / "out" / "demo.png").stat().st_size > 0
    assert plot_steps([], tmp_path / "empty.png").exists()  # halted before its first hour


def test_the_previous_plot_and_step_log_are_removed(tmp_path: Path) -> None:
    (tmp_path / "demo.png").write_bytes(b"old")
    (tmp_path / "steps.json").write_text("[]")
    plot, steps = clear_outputs(tmp_path)
    assert not plot.exists() and not steps.exists()
    clear_outputs(tmp_path / "never-made")  # nothing to remove is fine


def test_each_hour_has_its_own_key() -> None:
    assert step_key("2022-06-12 01:00:00") == "demo-20220612T010000"
    assert len({step_key(f"2022-06-12 {h:02d}:00:00") for h in range(24)}) == 24


def test_a_failed_run_ends_the_hour_with_the_ledgers_reason(tmp_path: Path) -> None:
    ledger = Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="m")
    ctx = context(tmp_path, ledger)
    run_id = start_run(ctx, kind="beat", run_id="beat-demo-20221108T180000")
    fail_run(ctx, run_id, "cannot sell 206.245 ETH of delta: the wallets hold 202.37 WETH")
    assert run_chain(ledger, run_id) == [run_id]
    runs, error = follow_run(ctx, run_id, timeout_s=5)
    assert runs == [run_id] and error == f"run {run_id}: cannot sell 206.245 ETH of delta: the wallets hold 202.37 WETH"


def test_a_run_that_does_not_finish_is_ended_with_its_state(tmp_path: Path) -> None:
    ledger = Ledger(fakeredis.FakeRedis(decode_responses=True), prefix="m")
    ctx = context(tmp_path, ledger)
    run_id = start_run(ctx, kind="beat", run_id="beat-demo-20221108T190000")  # no worker will ever take it
    runs, error = follow_run(ctx, run_id, timeout_s=0.3)
    assert runs == [run_id] and "not finished after 0.3s (state created" in error
    assert ledger.run(run_id).state is RunState.FAILED and "not finished" in ledger.run(run_id).error
    assert start_run(ctx, kind="beat", run_id="next") == "next"  # the run lock was given back


# -- the command ---------------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """The repo's chains.yaml with its devnet, Redis and outputs under ``tmp_path`` (nothing is started here)."""
    data = yaml.safe_load((REPO / "chains.yaml").read_text())
    data["devnet"]["state_dir"] = str(tmp_path / "devnet")
    for chain in data["devnet"]["chains"].values():
        chain["port"] += 7000
    data.setdefault("execution", {})["redis_dir"] = str(tmp_path / "redis")
    path = tmp_path / "chains.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("args", [["--steps", "0"], ["--steps", "-2"], ["--start", "not a date"]])
def test_bad_options_exit_2_before_anything_starts(demo_config: Path, args: list[str]) -> None:
    out_dir = demo_config.parent / "out"
    out_dir.mkdir()
    (out_dir / "demo.png").write_bytes(b"old")
    result = invoke("demo", "--config", str(demo_config), "--out", str(out_dir), *args)
    assert result.exit_code == 2, result.output
    assert args[0] in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (demo_config.parent / "devnet").exists() and not (demo_config.parent / "redis").exists()
    assert (out_dir / "demo.png").exists()  # a refused command touches nothing


def test_a_start_outside_the_data_names_its_range(demo_config: Path) -> None:
    if not DemoOptions(config_path=demo_config).data_dir.exists():
        pytest.skip("the demo's price data (../shared/data) is not here")
    result = invoke("demo", "--config", str(demo_config), "--start", "1999-01-01 00:00:00")
    assert result.exit_code == 2
    assert "--start: 1999-01-01 00:00:00 is outside the price data" in result.stderr
    assert "ethusdt_1h.csv" in result.stderr and "cover 2022-01-01 00:00:00 to" in result.stderr
    assert not (demo_config.parent / "devnet").exists()


def fake_run_demo(steps: list[DemoStep], halted: str | None, tmp: Path) -> Callable[..., DemoResult]:
    def run(options: DemoOptions, on_step: Callable[[DemoStep], None] | None = None,
            on_status: Callable[[str], None] | None = None) -> DemoResult:
        for s in steps:
            if on_step is not None:
                on_step(s)
        return DemoResult(steps=steps, plot=plot_steps(steps, tmp / "demo.png", halted), steps_file=tmp / "s.json",
                          halted=halted)
    return run


def test_exit_codes_say_how_the_demo_ended(demo_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = demo_config.parent
    failed = [step(0), step(1, after=5.0, error="run r1: cannot sell 206 ETH of delta", state="failed")]
    monkeypatch.setattr("crosshedge.cli.demo.run_demo", fake_run_demo(failed, None, tmp))
    done = invoke("demo", "--config", str(demo_config))
    assert done.exit_code == 0  # a failed hour shown and counted is still a completed demo
    assert "hedge failed: run r1: cannot sell 206 ETH of delta" in done.stdout
    as_json = invoke("demo", "--config", str(demo_config), "--json")
    summary = json.loads(as_json.stdout)["summary"]
    assert summary["hours_failed"] == 1 and summary["halted"] is None

    monkeypatch.setattr("crosshedge.cli.demo.run_demo", fake_run_demo(failed[:1], "kill switch is set: ops", tmp))
    halted = invoke("demo", "--config", str(demo_config))
    assert halted.exit_code == 3 and "halted after hour 1: kill switch is set: ops" in halted.stderr

    def broken(*_a: object, **_k: object) -> DemoResult:
        raise ExecutionError("demo: worker 0 exited with code 1; see out/logs/worker-0.log")

    monkeypatch.setattr("crosshedge.cli.demo.run_demo", broken)
    error = invoke("demo", "--config", str(demo_config))
    assert error.exit_code == 1 and "worker 0 exited" in error.stderr


# -- the block clock (against a recording stand-in for anvil's JSON-RPC; the live one runs in the integration test)


class FakeAnvil:
    """Answers the JSON-RPC the block clock sends and records it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[object]]] = []
        self.pending = 0
        self.head_ts = 1_000

    def make_request(self, method: str, params: list[object]) -> dict[str, object]:
        self.calls.append((method, params))
        if method == "txpool_status":
            return {"result": {"pending": hex(self.pending), "queued": "0x0"}}
        if method == "evm_mine":
            self.pending, self.head_ts = 0, self.head_ts + 1
        return {"result": None}

    def mined(self) -> int:
        return sum(1 for m, _ in self.calls if m == "evm_mine")


class FakeEth:
    def __init__(self, node: FakeAnvil) -> None:
        self.node = node

    def get_block(self, _which: str) -> dict[str, int]:
        return {"timestamp": self.node.head_ts}


def fake_w3(node: FakeAnvil) -> Web3:
    return cast(Web3, SimpleNamespace(provider=node, eth=FakeEth(node)))


def test_the_clock_mines_waiting_transactions_at_the_held_fee_then_their_confirmations() -> None:
    node, now = FakeAnvil(), [100.0]
    clock = BlockClock({"ethereum": (fake_w3(node), 20 * 10**9, 3)}, quiet_s=1.0, heartbeat_s=20.0,
                       clock=lambda: now[0], wall=lambda: 1_000.0)
    node.pending = 1
    clock.tick()
    assert node.mined() == 1
    fee_then_mine = [m for m, _ in node.calls if m in ("anvil_setNextBlockBaseFeePerGas", "evm_mine")]
    assert fee_then_mine == ["anvil_setNextBlockBaseFeePerGas", "evm_mine"]  # the fee is set right before
    assert ("anvil_setNextBlockBaseFeePerGas", [hex(20 * 10**9)]) in node.calls
    now[0] += 0.5
    clock.tick()
    assert node.mined() == 1  # quiet for less than quiet_s: the lane may be about to send its next one
    now[0] += 0.6
    clock.tick()
    assert node.mined() == 3  # the two blocks a depth of 3 still needs, at once
    now[0] += 5.0
    clock.tick()
    assert node.mined() == 3  # nothing waits: no block under anybody's reads


def test_an_idle_chain_gets_a_heartbeat_and_catches_up_with_the_wall_clock() -> None:
    node, now = FakeAnvil(), [100.0]
    clock = BlockClock({"base": (fake_w3(node), 5 * 10**6, 2)}, heartbeat_s=20.0, clock=lambda: now[0],
                       wall=lambda: 5_000.0)
    now[0] += 21.0
    clock.tick()
    assert node.mined() == 1 and ("evm_setNextBlockTimestamp", [5_000]) in node.calls


def test_the_clock_dates_blocks_a_second_apart_from_a_multiple_of_256() -> None:
    node = FakeAnvil()
    clock = BlockClock({"arbitrum": (fake_w3(node), 10**7, 1)}, wall=lambda: 1_000.4)
    with clock:
        pass
    methods = [m for m, _ in node.calls]
    assert ("anvil_setBlockTimestampInterval", [1]) in node.calls
    start = next(p[0] for m, p in node.calls if m == "evm_setNextBlockTimestamp")
    assert isinstance(start, int) and start % 256 == 0 and start >= 1_000 + 60
    assert methods[-2:] == ["anvil_removeBlockTimestampInterval", "evm_setAutomine"]  # a kept devnet automines


def test_a_hold_moves_every_chain_the_same_seconds_on_in_one_block_each() -> None:
    nodes = {"ethereum": FakeAnvil(), "base": FakeAnvil()}
    nodes["base"].head_ts = 5_000
    clock = BlockClock({n: (fake_w3(node), 10**9, 1) for n, node in nodes.items()}, wall=lambda: 1_000.0)
    clock.hold(900)
    for node, head in ((nodes["ethereum"], 1_000), (nodes["base"], 5_000)):
        assert node.mined() == 1 and ("evm_setNextBlockTimestamp", [head + 900]) in node.calls


def test_funding_is_what_accrues_between_reads_and_a_trade_settles_it() -> None:
    def owed(i: int, pending: float, traded: bool = False) -> DemoStep:
        return step(i).model_copy(update={"perp_funding_owed": {"base/eth_perp": pending},
                                          "perp_markets_traded": ["base/eth_perp"] if traded else []})

    # 0 → 5 accrues 5, the hour's trade settles it, then 3 more accrue and 2 come back (a short paid by longs)
    steps = [owed(0, 0.0), owed(1, 5.0, traded=True), owed(2, 3.0), owed(3, 1.0)]
    assert funding_paid(steps) == pytest.approx(5.0 + 3.0 - 2.0)
    assert funding_paid([step(0)]) == 0.0  # no perp account: no funding


def test_the_summary_splits_the_cost_into_spot_perp_fee_perp_impact_and_gas() -> None:
    split = {"spot_cost_usd": 4.0, "perp_fee_usd": 2.5, "perp_impact_usd": 1.5, "gas_usd": 2.0}
    rows = summary_rows([step(0).model_copy(update=split), step(1).model_copy(update=split)])
    assert (rows["spot_fees_and_impact_usd"], rows["perp_fees_usd"], rows["perp_impact_usd"], rows["gas_usd"]) == \
        (8.0, 5.0, 3.0, 4.0)
