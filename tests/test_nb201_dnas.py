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
    text = capsys.readouterr().out
    assert "published" in text and "GDAS" in text


def test_errors_are_one_line(tmp_path, capsys):
    bench = load_bench()
    assert bench.main([*TOY, "--target-ms", "1000", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "error: --target-ms: expected a latency within the benchmark's range on fpga" in capsys.readouterr().err
    assert bench.main([*TOY, "--mode", "gumbel", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "error: --mode: value: expected hard or soft, got 'gumbel'" in capsys.readouterr().err
