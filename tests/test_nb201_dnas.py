"""``bench/nb201_dnas.py`` at toy scale: the search runs, the derived arch is looked up in the benchmark,
the latency model is the benchmark's, errors are one line. Needs nb201_hw.npz (skips without it)."""

import json

import numpy as np
import pytest

from nas.space import load_space
from test_nb201 import BENCH, needs_data
from bench_script import load_bench_script

pytestmark = needs_data


def load_bench():
    return load_bench_script("nb201_dnas")


def test_latency_model_is_the_benchmarks():
    bench = load_bench()
    space = load_space("nb201", variant="cifar10")
    const, costs, mape = bench.fit_latency(BENCH, "fpga", space)
    assert mape < 0.5  # the FPGA figures are exactly additive per edge and op
    idx = np.array([0, 17, 4000, 9999])
    pred = [const + sum(float(costs[d.label][k]) for d, k in zip(space.decisions, BENCH.codes[i])) for i in idx]
    np.testing.assert_allclose(pred, BENCH.latency("fpga", idx), rtol=0.01)
    assert all(float(c[0]) == 0.0 for c in costs.values())  # none costs nothing


TOY = ["--data", "digits", "--images", "256", "--cells", "1", "--resolution", "16", "--rounds", "3",
       "--round-steps", "2", "--batch", "32", "--budget-min", "5"]


def test_toy_search_reports_the_benchmark_figures(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "r.jsonl"
    assert bench.main([*TOY, "--out", str(out)]) == 0
    assert bench.main([*TOY, "--mode", "soft", "--target-ms", "3.0", "--out", str(out)]) == 0
    hard, soft = [json.loads(line) for line in out.read_text().splitlines()]
    for r in (hard, soft):
        i = BENCH.index(r["derived"])
        assert r["bench_acc"] == pytest.approx(float(BENCH.accuracy("cifar10", [i])[0]))
        assert r["latency_ms"] == pytest.approx(float(BENCH.latency("fpga", [i])[0]))
        assert r["rounds_run"] == 3 and len(r["trace"]) == 3 and 1 <= r["rank"] <= 15625
    assert soft["mode"] == "soft" and soft["target_ms"] == 3.0 and "within_target" in soft
    assert soft["best_feasible_acc"] <= hard["best_acc"]
    # without a target the found arch is the toolkit's default pick (argmax and samples, lowest validation
    # loss); with one it is the target rule's, no pick
    assert "lowest search loss on the validation split" in hard["pick"] and soft["pick"] is None
    # every candidate the pick weighed, the argmax first (no gain over itself), each looked up
    first, *others = hard["candidates"]
    assert first["arch"] == hard["argmax_derived"] and first["gain"] == 0.0 and first["gain_se"] == 0.0
    assert hard["derived"] in [c["arch"] for c in hard["candidates"]] and hard["pick_margin"] == 2.0
    for c in hard["candidates"]:
        assert c["bench_acc"] == pytest.approx(float(BENCH.accuracy("cifar10", [BENCH.index(c["arch"])])[0]))
        assert c["gain"] == pytest.approx(first["val_loss"] - c["val_loss"], abs=2e-5)
    assert soft["candidates"] == []
    for r in (hard, soft):
        assert r["argmax_bench_acc"] == pytest.approx(
            float(BENCH.accuracy("cifar10", [BENCH.index(r["argmax_derived"])])[0]))
    text = capsys.readouterr().out
    assert "published" in text and "GDAS" in text


def test_errors_are_one_line(tmp_path, capsys):
    bench = load_bench()
    assert bench.main([*TOY, "--target-ms", "1000", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "error: --target-ms: expected a latency within the benchmark's range on fpga" in capsys.readouterr().err
    assert bench.main([*TOY, "--mode", "gumbel", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "error: --mode: value: expected hard or soft, got 'gumbel'" in capsys.readouterr().err


def test_samples_0_reports_the_argmax(tmp_path):
    bench = load_bench()
    out = tmp_path / "r.jsonl"
    assert bench.main([*TOY, "--samples", "0", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["pick"] is None and r["derived"] == r["argmax_derived"] and r["samples"] == 0


def test_rounds_auto_fills_the_budget_from_probe_rounds(tmp_path, capsys):
    bench = load_bench()
    out = tmp_path / "r.jsonl"
    args = [a for a in TOY if a not in ("--rounds", "3")]
    assert bench.main([*args[:-1], "0.25", "--rounds", "auto", "--warmup-frac", "0.5", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    probe, left = r["probe_round_s"], 15 - r["probe_s"]
    assert 0 < probe < r["probe_s"] and r["rounds_planned"] >= 2
    # the planned rounds (warm-up ones at half a round) fill what the probe left of the budget, and one
    # more would not fit (up to the rounding of the warm-up rounds, a quarter of a round)
    planned_s = probe * (r["rounds_planned"] - 0.5 * r["warmup_rounds"])
    assert left - 1.25 * probe < planned_s <= left + 0.25 * probe
    assert r["warmup_rounds"] == min(round(0.5 * r["rounds_planned"]), r["rounds_planned"] - 1)
    assert r["trace"][0]["round"] == 1 and r["rounds_run"] <= r["rounds_planned"]
    assert "probe: 2 rounds" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--rounds", "many"], "error: --rounds: value: expected a positive integer or auto, got 'many'"),
    (["--rounds", "3", "--warmup-rounds", "3"], "error: --warmup-rounds: value: expected fewer than --rounds (3)"),
    (["--samples", "-1"], "error: --samples: value: expected a count >= 0, got -1"),
    (["--val-images", "0"], "error: --val-images: value: expected a count >= 1, got 0"),
    (["--warmup-frac", "1.0"], "error: --warmup-frac: value: expected a fraction in [0, 1), got 1.0"),
])
def test_schedule_errors_are_one_line(tmp_path, capsys, flags, message):
    bench = load_bench()
    assert bench.main([*TOY, *flags, "--out", str(tmp_path / "r.jsonl")]) == 2
    assert message in capsys.readouterr().err
