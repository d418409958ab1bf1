"""The report app: collecting run dirs, the Pareto front, re-timing in one session, outputs, errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.report import (BASELINE, FOUND, TRAINED_FOUND, ReportError, Row, baseline_rows, collect, pareto,
                        remeasure, write_report)
from nas.report.__main__ import main
from nas.space import load_space

REPO = Path(__file__).resolve().parents[1]
TINY_BASELINE = "mobilenetv1_025"  # the smallest width of the registry's baselines


@pytest.fixture(scope="module")
def space():
    return load_space("fbnet", variant="cifar", width_mult=0.25)


def arch_of(space, seed: int):
    return space.sample(random.Random(seed))


def write_config(run: Path, target_ms=None) -> None:
    cfg = {"method": {"name": "fbnet"}, "device": {"type": "cpu", "threads": None},
           "latency": {"target_ms": target_ms, "batch_size": 1, "dtype": "float32", "threads": None}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))


def fbnet_run(run: Path, arch, acc: float, measured: float, predicted: float, target_ms=None,
              recorded_arch_path=None) -> Path:
    run.mkdir(parents=True)
    arch_path = arch.save(run / "arch.yaml")
    write_config(run, target_ms)
    final = {"predicted_ms": predicted, "params_m": 0.2, "macs_m": 8.0, "val_acc_shared_weights": acc,
             "measured_ms": measured}
    summary = {"arch_file": str(recorded_arch_path or arch_path), "space": "fbnet", "method": "fbnet",
               "final": final, "samples": [], "history": [], "seconds": 1.0}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def controller_run(run: Path, arch, acc: float, latency: float) -> Path:
    run.mkdir(parents=True)
    arch_path = arch.save(run / "best_arch.yaml")
    write_config(run, None)
    best = {"reward": acc, "accuracy": acc, "latency_ms": latency, "params_m": 0.3, "macs_m": 9.0}
    summary = {"arch_file": str(arch_path), "space": "fbnet", "method": "evolution", "evaluator": "proxy",
               "target_ms": 2.5, "best": best, "pareto": [], "evaluations": 4, "seconds": 1.0}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def train_run(run: Path, name: str, val_acc: float, latency_ms: float, arch_file=None, model=None,
              seed=None) -> Path:
    run.mkdir(parents=True)
    result = {"kind": "train", "name": name, "arch_file": arch_file and str(arch_file), "model": model,
              "variant": "cifar" if model else None, "data": "cifar10", "epochs": 2, "val_acc": val_acc,
              "best_val_acc": val_acc, "params_m": 0.25, "macs_m": 5.0, "latency_ms": latency_ms,
              "latency": {"device": "cpu", "threads": 1, "batch_size": 1, "dtype": "float32",
                          "median_ms": latency_ms, "min_ms": latency_ms * 0.9},
              "checkpoint": "checkpoint.pt", "seconds": 3.0, **({} if seed is None else {"seed": seed})}
    (run / "result.json").write_text(json.dumps(result))
    return run


@pytest.fixture()
def runs(tmp_path, space):
    """A search run, its arch trained, a trained baseline and a multirun of two fbnet jobs + an unfinished one."""
    search = fbnet_run(tmp_path / "search" / "s1", arch_of(space, 1), acc=0.30, measured=2.0, predicted=1.9,
                       target_ms=2.2)
    trained = train_run(tmp_path / "train" / "t1", "found_s1", 0.80, 2.1, arch_file=search / "arch.yaml")
    base = train_run(tmp_path / "train" / "b1", TINY_BASELINE, 0.75, 1.5, model=TINY_BASELINE)
    multi = tmp_path / "multirun" / "2026-01-01_00-00-00"
    multi.mkdir(parents=True)
    (multi / "multirun.yaml").write_text("hydra: {mode: MULTIRUN}\n")
    fbnet_run(multi / "0_latency.target_ms=1.5", arch_of(space, 2), acc=0.25, measured=1.6, predicted=1.5,
              target_ms=1.5)
    fbnet_run(multi / "1_latency.target_ms=3.0", arch_of(space, 3), acc=0.35, measured=2.9, predicted=3.0,
              target_ms=3.0)
    (multi / "2_latency.target_ms=9.0").mkdir()
    (multi / "2_latency.target_ms=9.0" / "__main__.log").write_text("")
    # an override value with a '/' (arch=/path/a.yaml) nests Hydra's job dir
    train_run(multi / "3_arch=" / "abs" / "arch.yaml,epochs=1", "nested_job", 0.5, 2.5,
              arch_file=search / "arch.yaml")
    return {"search": search, "trained": trained, "base": base, "multi": multi, "root": tmp_path}


def test_collect_reads_search_train_and_multirun_dirs(runs):
    warnings = []
    rows = collect([runs["search"], runs["root"] / "train", runs["root"] / "multirun"], warn=warnings.append)
    by = {Path(r.source).name: r for r in rows}
    assert len(rows) == 6 and len({r.name for r in rows}) == 6
    s = by["s1"]
    assert (s.kind, s.method, s.accuracy, s.accuracy_kind) == (FOUND, "fbnet", 0.30, "shared weights (fbnet search)")
    assert (s.measured_ms, s.predicted_ms, s.target_ms, s.latency_source) == (2.0, 1.9, 2.2, "recorded")
    assert Path(s.arch_file) == runs["search"] / "arch.yaml"
    t = by["t1"]  # an arch out of a search, trained: found, with the search's method and target
    assert (t.kind, t.method, t.accuracy, t.accuracy_kind, t.target_ms) == (TRAINED_FOUND, "fbnet", 0.80,
                                                                           "trained (val)", 2.2)
    assert t.latency_setting["threads"] == 1 and t.measured_ms == 2.1
    b = by["b1"]
    assert (b.kind, b.model, b.variant, b.num_classes, b.method) == (BASELINE, TINY_BASELINE, "cifar", 10,
                                                                     "hand-designed")
    assert sorted(r.target_ms for r in rows if "=" in Path(r.source).name) == [1.5, 2.2, 3.0]
    assert by["arch.yaml,epochs=1"].kind == TRAINED_FOUND and by["arch.yaml,epochs=1"].name == "nested_job"
    assert len(warnings) == 1 and "2_latency.target_ms=9.0" in warnings[0] and "unfinished" in warnings[0]


def test_collect_controller_run_and_moved_arch_file(tmp_path, space):
    run = controller_run(tmp_path / "c1", arch_of(space, 4), acc=0.4, latency=2.4)
    moved = fbnet_run(tmp_path / "moved", arch_of(space, 5), 0.2, 1.0, 1.1,
                      recorded_arch_path="/elsewhere/gone/arch.yaml")
    c, m = collect([run, moved / "summary.json"])
    assert (c.method, c.accuracy, c.accuracy_kind, c.predicted_ms, c.measured_ms) == (
        "evolution", 0.4, "proxy evaluator (search)", 2.4, None)
    assert c.target_ms == 2.5 and c.latency_ms == 2.4 and c.latency_from == "predicted"
    assert Path(m.arch_file) == moved / "arch.yaml"  # a run dir moved elsewhere keeps its arch beside it


def test_collect_errors_name_the_dir_and_what_was_expected(tmp_path):
    with pytest.raises(ReportError, match="missing.*expected an existing directory"):
        collect([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="empty.*summary.json.*result.json.*found none"):
        collect([tmp_path / "empty"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "summary.json").write_text("{not json")
    with pytest.raises(ReportError, match="summary.json: <file>: expected valid JSON"):
        collect([bad])
    warnings = []  # found while scanning: skipped with a warning instead; but no finished run at all: an error
    with pytest.raises(ReportError, match=r"at least one finished run; found only unfinished .* \(1 skipped\)"):
        collect([tmp_path], warn=warnings.append)
    assert len(warnings) == 1 and "bad" in warnings[0] and "expected valid JSON" in warnings[0]


def test_unfinished_runs_are_skipped_with_a_warning(tmp_path, space):
    unfinished = tmp_path / "runs" / "a_killed_run"
    unfinished.mkdir(parents=True)
    (unfinished / "config.yaml").write_text("seed: 0\n")
    done = fbnet_run(tmp_path / "runs" / "done", arch_of(space, 7), 0.2, 1.0, 1.1)
    warnings = []
    rows = collect([unfinished, tmp_path / "runs"], warn=warnings.append)  # named directly, then met scanning
    assert [Path(r.source) for r in rows] == [done]
    assert len(warnings) == 2 and all("a_killed_run: unfinished run" in w for w in warnings)


def make_row(name, acc, lat, kind=FOUND, acc_kind="trained (val)"):
    return Row(name=name, kind=kind, method="m", accuracy=acc, accuracy_kind=acc_kind, measured_ms=lat)


def test_pareto_marks_the_known_front():
    rows = [make_row("a", 0.70, 1.0), make_row("b", 0.80, 2.0), make_row("c", 0.75, 2.5),  # c: dominated by b
            make_row("d", 0.90, 4.0), make_row("e", 0.60, 1.5),  # e: dominated by a
            make_row("f", 0.90, 5.0),  # same accuracy as d, slower: dominated
            make_row("g", 0.99, 0.5, acc_kind="shared weights (fbnet search)"),  # another kind: its own front
            make_row("h", None, 0.8, kind=BASELINE, acc_kind=None)]  # no accuracy: on no front
    front = pareto(rows)
    assert [r.name for r in front] == ["g", "a", "b", "d"]
    assert {r.name: r.pareto for r in rows} == {"a": True, "b": True, "c": False, "d": True, "e": False,
                                                "f": False, "g": True, "h": None}


def test_write_report_writes_md_png_json_and_tensorboard(tmp_path, runs):
    rows = collect([runs["search"], runs["root"] / "train"])
    rows.append(make_row("latency-only", None, 0.9, kind=BASELINE, acc_kind=None))
    paths = write_report(rows, tmp_path / "out", title="test report")
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.startswith("# test report") and "as recorded" in md and "| net | kind |" in md
    lines = [line for line in md.splitlines() if line.startswith("| ") and "| net |" not in line]
    assert [line.split(" | ")[0][2:] for line in lines] == ["latency-only", TINY_BASELINE, "fbnet:s1", "found_s1"]
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [r["name"] for r in data["rows"]] == ["latency-only", TINY_BASELINE, "fbnet:s1", "found_s1"]
    assert {r["name"]: r["pareto"] for r in data["rows"]} == {"latency-only": None, TINY_BASELINE: True,
                                                              "fbnet:s1": True, "found_s1": True}
    assert list((tmp_path / "out" / "tb").glob("events.out.tfevents.*"))
    assert set(paths) == {"report.md", "pareto.png", "report.json", "tb"}


def test_remeasure_times_two_tiny_nets_in_one_session(tmp_path, space):
    search = fbnet_run(tmp_path / "s", arch_of(space, 6), 0.3, measured=99.0, predicted=98.0)
    trained = train_run(tmp_path / "t", "same_arch", 0.5, 77.0, arch_file=search / "arch.yaml")
    rows = collect([search, trained]) + baseline_rows([TINY_BASELINE])
    assert rows[2].measured_ms is None and rows[2].params_m > 0
    remeasure(rows, threads=1, rounds=2, min_run_time=0.01, progress=False)
    for r in rows:
        assert r.measured_ms > 0 and r.latency_setting["threads"] == 1
        assert r.latency_setting["nets"] == 2  # the searched arch and its trained copy are one net
    assert [r.latency_source for r in rows] == ["re-measured", "re-measured", "measured"]
    assert rows[0].measured_ms == rows[1].measured_ms and rows[0].recorded_ms == 99.0
    assert rows[0].measured_ms != 99.0


def test_cli_end_to_end(tmp_path, runs, capsys):
    job = runs["multi"] / "0_latency.target_ms=1.5"  # a Hydra job dir: '=' in a path is not an option
    out = tmp_path / "report"
    code = main([str(runs["search"]), str(job), f"out={out}", f"baselines={TINY_BASELINE}", "rounds=1",
                 "min_run_time=0.01", "title=cli"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "fbnet:s1" in captured.out and TINY_BASELINE in captured.out and str(out / "report.md") in captured.out
    md = (out / "report.md").read_text()
    assert "1 of 3 nets **timed in one session**" in md and "2 of 3 nets **as recorded**" in md  # the baseline
    assert "| measured |" in md  # had no recorded latency: timed, only it
    assert main([str(runs["root"] / "empty_or_missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "empty_or_missing" in err
    assert main([str(runs["search"]), "measure=maybe"]) == 2
    assert capsys.readouterr().err.strip() == "error: key 'measure': expected true or false, got 'maybe'"


def test_cli_errors_exit_2_with_one_line(tmp_path):
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no runs here")
    target = tmp_path / "nothing"  # a missing dir: in test_cli_end_to_end (in-process, faster)
    proc = subprocess.run([sys.executable, "-m", "nas.report", str(target), f"out={tmp_path / 'out'}"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {target}: ") and "found none" in lines[0]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_seeds_of_one_net_merge_into_mean_and_standard_error(tmp_path):
    from nas.report.seeds import merge_seeds
    from nas.report.write import table

    for seed, acc in ((0, 0.70), (1, 0.74)):
        train_run(tmp_path / f"b{seed}", TINY_BASELINE, acc, 1.0 + seed, model=TINY_BASELINE, seed=seed)
    train_run(tmp_path / "other", "mobilenetv1_050", 0.8, 2.0, model="mobilenetv1_050", seed=0)
    rows = merge_seeds(collect([tmp_path]))
    assert len(rows) == 2
    merged = next(r for r in rows if r.model == TINY_BASELINE)
    assert merged.accuracy == pytest.approx(0.72) and merged.accuracy_se == pytest.approx(0.02)  # std 0.0283 / sqrt 2
    assert merged.seeds == [0, 1] and merged.measured_ms == pytest.approx(1.5) and merged.name == TINY_BASELINE
    single = next(r for r in rows if r.model == "mobilenetv1_050")
    assert single.accuracy_se is None and single.seeds == [0]
    assert "0.7200 ± 0.0200 (2 seeds)" in table(rows)
