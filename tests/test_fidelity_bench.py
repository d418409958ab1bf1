"""``bench/evaluator_fidelity.py`` at toy scale: a trained ground truth on digits, and an external one."""

import json

import pytest

from nas.profile import count_macs
from nas.space import load_space
from test_nb201 import BENCH as NB201, needs_data
from bench_script import load_bench_script


def load_bench():
    return load_bench_script("evaluator_fidelity")


@pytest.mark.slow  # 11 s: the whole bench at toy scale
def test_bench_command_line_at_toy_scale(tmp_path, capsys):
    bench = load_bench()
    files = [f"--{k}={tmp_path / k}.json" for k in ("truth", "scores", "out")] + [f"--md={tmp_path / 'out.md'}"]
    argv = ["--data", "digits", "--width-mult", "0.25", "--archs", "3", "--gt-epochs", "1", "--gt-train-images", "64",
            "--gt-test-images", "32", "--gt-batch", "32", "--search-images", "80", "--bootstrap", "50",
            "--evaluators", "params", "macs", "nwot8=zerocost:proxy=nwot,batch_size=8",
            f"sk=oneshot:supernet.epochs=1,supernet.bn_batches=1,supernet.cache_dir={tmp_path}", "x=oneshot:nope=1",
            *files]
    assert bench.main(argv) == 0
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["truth"]["n"] == 3 and set(report["evaluators"]) == {"params", "macs", "nwot8", "sk", "x"}
    assert "no option 'nope'" in report["evaluators"]["x"]["skipped"]
    assert report["evaluators"]["sk"]["options"] == {"supernet": {"epochs": 1, "bn_batches": 1,
                                                                  "cache_dir": str(tmp_path)}}
    assert list(tmp_path.glob("fbnet-*.pt"))  # the supernet was trained and cached
    for label in ("params", "macs", "nwot8", "sk"):
        r = report["evaluators"][label]
        assert r["fidelity"]["n"] == 3 and r["eval_s_per_arch"] > 0
    md = (tmp_path / "out.md").read_text()
    assert md.count("\n| ") == 6 and "| x | skipped" in md
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["nwot8"]["archs"]) == 3
    assert bench.main([*argv[:argv.index("--evaluators")], "--evaluators", "nope", *files]) == 2
    assert "error: --evaluators: nope: expected a preset" in capsys.readouterr().err
    bad = [*argv[:argv.index("--evaluators")], "--evaluators", "y=oneshot:supernet.sampling=often", *files]
    assert bench.main(bad) == 2
    assert "error: supernet: sampling: expected one of uniform, fair, got 'often'" in capsys.readouterr().err


def test_bench_with_an_external_ground_truth(tmp_path):
    bench = load_bench()
    space = load_space("fbnet", variant="cifar", width_mult=0.25, num_classes=10)
    archs = [space.sample(i) for i in range(4)]
    macs = [count_macs(space.build(a), (1, 3, 32, 32)) for a in archs]
    truth = {"format": "nas.evaluator_fidelity.truth/1", "space": {"name": "fbnet"}, "source": "external",
             "description": "accuracy = MACs (a benchmark stand-in)",
             "archs": [{"key": f"bench-id-{i}", "choices": a.choices, "accuracy": m} for i, (a, m) in
                       enumerate(zip(archs, macs))]}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    files = [f"--{k}={tmp_path / k}.json" for k in ("truth", "scores", "out")] + [f"--md={tmp_path / 'out.md'}"]
    assert bench.main(["--data", "digits", "--width-mult", "0.25", "--search-images", "40", "--bootstrap", "50",
                       "--evaluators", "macs", "params", *files]) == 0
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["truth"]["description"].startswith("accuracy = MACs") and report["truth"]["n"] == 4
    assert report["evaluators"]["macs"]["fidelity"]["kendall_tau"] == pytest.approx(1.0)  # nothing trained
    assert report["evaluators"]["params"]["fidelity"]["n"] == 4


def test_oneshot_presets_are_supernet_options():
    """Every ``oneshot*`` preset is the oneshot evaluator with options of the ``supernet`` section
    (``nas.supernet.training.SupernetOptions``), and each is the supernet its name says."""
    from nas.supernet.training import SupernetOptions

    presets = {k: v for k, v in load_bench().PRESETS.items() if v[0] == "oneshot"}
    assert set(presets) == {"oneshot", "oneshot-superkernel", "oneshot-fair", "oneshot-sandwich"}
    assert all(set(options) == {"supernet"} for _, options in presets.values())
    opts = {k: SupernetOptions.of(options["supernet"]) for k, (_, options) in presets.items()}
    assert not opts["oneshot"].superkernel and not opts["oneshot"].zero_gamma  # plain SPOS
    assert opts["oneshot-superkernel"] == SupernetOptions()  # the default supernet
    assert opts["oneshot-fair"].sampling == "fair" and opts["oneshot-fair"].superkernel
    assert opts["oneshot-sandwich"].sandwich and opts["oneshot-sandwich"].distill


@needs_data
def test_bench_with_the_nb201_benchmark_as_ground_truth(tmp_path):
    """``--benchmark-truth cifar10``: archs drawn from the nb201 space, their accuracies the benchmark's."""
    bench = load_bench()
    files = [f"--{k}={tmp_path / k}.json" for k in ("truth", "scores", "out")] + [f"--md={tmp_path / 'out.md'}"]
    argv = ["--data", "digits", "--space", "nb201", "--benchmark-truth", "cifar10", "--archs", "12",
            "--search-images", "40", "--bootstrap", "50", "--evaluators", "params", *files]
    assert bench.main(argv) == 0
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["source"] == "external" and len(truth["archs"]) == 12
    assert len({e["key"] for e in truth["archs"]}) == 12  # drawn without replacement
    space = load_space("nb201", variant="cifar10")
    from nas.benchmarks.nb201 import arch_string

    for e in truth["archs"][:3]:
        code = space.encode(space.make_arch(e["choices"]))
        want = NB201.accuracy("cifar10", NB201.indices([arch_string(code)]))[0] / 100
        assert e["accuracy"] == pytest.approx(float(want))
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["truth"]["n"] == 12 and "cifar10 test accuracy" in report["truth"]["description"]
    assert report["evaluators"]["params"]["fidelity"]["n"] == 12
    assert bench.main(argv) == 0  # a rerun reads the file as it is
    assert json.loads((tmp_path / "truth.json").read_text()) == truth


def test_scores_only_leaves_the_ground_truth_alone(tmp_path, capsys):
    """``--scores-only`` scores the truth's archs and keeps the scores, trains nothing, writes no truth
    and no report; the run that has the truth reuses those scores."""
    bench = load_bench()
    files = [f"--{k}={tmp_path / k}.json" for k in ("truth", "scores", "out")] + [f"--md={tmp_path / 'out.md'}"]
    argv = ["--data", "digits", "--width-mult", "0.25", "--archs", "3", "--gt-epochs", "1", "--gt-train-images", "64",
            "--gt-test-images", "32", "--gt-batch", "32", "--search-images", "40", "--bootstrap", "50",
            "--evaluators", "macs", *files]
    assert bench.main([*argv, "--scores-only"]) == 0
    assert "scores kept in" in capsys.readouterr().out
    assert not (tmp_path / "truth.json").exists() and not (tmp_path / "out.json").exists()
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert len(scores["macs"]["archs"]) == 3
    marked = {k: {**v, "accuracy": 1000.0 + i} for i, (k, v) in enumerate(scores["macs"]["archs"].items())}
    scores["macs"]["archs"] = marked  # made-up scores: a rerun that reuses them reports their ranks
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    assert bench.main(argv) == 0
    assert (tmp_path / "truth.json").exists()
    kept = json.loads((tmp_path / "scores.json").read_text())["macs"]["archs"]
    assert {k: v["accuracy"] for k, v in kept.items()} == {k: v["accuracy"] for k, v in marked.items()}


def test_saving_one_evaluators_scores_keeps_the_others_on_disk(tmp_path):
    """Two runs scoring different evaluators into one file (a ``--scores-only`` run beside a training
    one) each write only their own label."""
    bench = load_bench()
    path = tmp_path / "scores.json"
    a, b = {}, {}  # what each run read at its start: nothing
    bench.save_scores(path, "nwot", {"archs": {"x": 1}}, a)
    bench.save_scores(path, "proxy", {"archs": {"x": 2}}, b)  # b never saw nwot
    bench.save_scores(path, "nwot", {"archs": {"x": 1, "y": 3}}, a)  # a never saw proxy
    assert json.loads(path.read_text()) == {"nwot": {"archs": {"x": 1, "y": 3}}, "proxy": {"archs": {"x": 2}}}


def test_shards_score_one_evaluator_side_by_side(tmp_path, capsys):
    """``--scores-only --shard I/N``: each run scores its share of the archs into the one scores file."""
    bench = load_bench()
    files = [f"--{k}={tmp_path / k}.json" for k in ("truth", "scores", "out")] + [f"--md={tmp_path / 'out.md'}"]
    argv = ["--data", "digits", "--width-mult", "0.25", "--archs", "3", "--search-images", "40",
            "--evaluators", "macs", "--scores-only", *files]
    assert bench.main([*argv, "--shard", "1/2"]) == 0
    assert len(json.loads((tmp_path / "scores.json").read_text())["macs"]["archs"]) == 1  # arch 1 of 0, 1, 2
    assert bench.main([*argv, "--shard", "0/2"]) == 0
    assert len(json.loads((tmp_path / "scores.json").read_text())["macs"]["archs"]) == 3
    capsys.readouterr()
    assert bench.main([*argv[:-5], *files, "--shard", "1/2"]) == 2  # a report needs every arch
    assert bench.main([*argv, "--shard", "2/2"]) == 2
    err = capsys.readouterr().err
    assert "--shard: 1/2: expected --scores-only beside it" in err and "--shard: 2/2: expected I/N" in err


def test_spread_order_makes_every_prefix_span_the_list():
    from nas.fidelity import spread_order

    order = spread_order(list(range(30)))
    assert sorted(order) == list(range(30)) and order[:4] == [0, 16, 8, 24]
    assert max(order[:8]) - min(order[:8]) >= 24  # the first 8 already cover the range
    assert spread_order([]) == [] and spread_order(["a"]) == ["a"]


def test_the_ground_truth_trained_again_with_another_seed_is_compared(tmp_path, capsys):
    """``--gt-seed`` trains the same archs on the same images with another seed into another truth file;
    ``--repeat-truth`` reports its rank agreement with the truth (the ceiling for any evaluator)."""
    bench = load_bench()
    common = ["--data", "digits", "--width-mult", "0.25", "--archs", "4", "--gt-epochs", "1", "--gt-train-images", "64",
              "--gt-test-images", "64", "--gt-batch", "32", "--search-images", "40", "--bootstrap", "20",
              "--evaluators", "macs", f"--scores={tmp_path / 'scores.json'}"]
    first = [*common, f"--truth={tmp_path / 't0.json'}", f"--out={tmp_path / 'r0.json'}", f"--md={tmp_path / 'r0.md'}"]
    again = [*common, "--gt-seed", "1", f"--truth={tmp_path / 't1.json'}", f"--out={tmp_path / 'r1.json'}",
             f"--md={tmp_path / 'r1.md'}"]
    assert bench.main(first) == 0 and bench.main(again) == 0
    t0, t1 = (json.loads((tmp_path / f"t{i}.json").read_text()) for i in (0, 1))
    assert [e["key"] for e in t0["archs"]] == [e["key"] for e in t1["archs"]]  # the same archs
    assert t0["recipe"]["seed"] == 0 and t1["recipe"]["seed"] == 1
    assert [e["accuracy"] for e in t0["archs"]] != [e["accuracy"] for e in t1["archs"]]  # trained differently
    capsys.readouterr()
    assert bench.main([*first, "--repeat-truth", str(tmp_path / "t1.json")]) == 0
    report = json.loads((tmp_path / "r0.json").read_text())
    rep = report["truth_repeat"]
    acc0 = {e["key"]: e["accuracy"] for e in t0["archs"]}
    acc1 = {e["key"]: e["accuracy"] for e in t1["archs"]}
    want = bench.rank_fidelity(acc0, acc1, 20, 0)
    assert rep["seed"] == 1 and rep["fidelity"]["n"] == 4 and rep["fidelity"]["kendall_tau"] == want["kendall_tau"]
    md = (tmp_path / "r0.md").read_text()
    assert "against itself trained again (training seed 1, 4 archs" in md
    # each evaluator against either truth and against their mean (the less noisy truth)
    macs = {k: v["accuracy"] for k, v in json.loads((tmp_path / "scores.json").read_text())["macs"]["archs"].items()}
    mean = {k: (acc0[k] + acc1[k]) / 2 for k in acc0}
    assert rep["mean"] == pytest.approx(mean)
    got = report["evaluators"]["macs"]["repeat"]
    for name, truth in (("first", acc0), ("second", acc1), ("mean", mean)):
        assert got[name]["kendall_tau"] == bench.rank_fidelity(truth, macs, 20, 0)["kendall_tau"]
    assert "| evaluator | truth (seed 0) | trained again (seed 1) | mean of the two |" in md
    assert md.count("\n| macs | ") == 2
    assert bench.main([*first, "--repeat-truth", str(tmp_path / "none.json")]) == 2
    assert "none.json: <file>: expected a ground-truth file" in capsys.readouterr().err
    # the same truth file cannot be reused for another training seed
    assert bench.main([*common, "--gt-seed", "1", f"--truth={tmp_path / 't0.json'}", f"--out={tmp_path / 'x.json'}",
                       f"--md={tmp_path / 'x.md'}"]) == 2
    assert "t0.json: recipe: expected" in capsys.readouterr().err
