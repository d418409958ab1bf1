"""Bad input, as a new user gives it, to every entry point (issue #19): one ``error:`` line naming the
source, the key and what was expected; exit code 2; no traceback; nothing silently accepted; no file
changed, none added (a failing run leaves no Hydra run dir behind), no pickle executed.

One row per case: (app, arguments, expected fragment of the one line). The apps run in-process
(``nas.cli.HydraApp``: the same code path as ``python -m``, minus the interpreter start-up); a few rows
run as real subprocesses too (``test_real_processes``). Files used by the rows live in one sandbox,
which is also the working directory (Hydra's run dirs go there).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.space import load_space
from test_search import table_for, toy_space

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
SMALL = ["latency.measure=false", "data.limit_train=64", "data.limit_val=32", "method.epochs=1",
         "method.warmup_epochs=0", "method.batch_size=16", "method.max_steps_per_epoch=1", "method.samples=1"]
CONTROLLER = ["latency.measure=false", "data.limit_train=64", "data.limit_val=32", "method.budget=2",
              "evaluator=zerocost", "evaluator.batch_size=16"]


class Payload:
    """A pickle that would run a shell command when loaded without weights_only."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _apps():
    from nas.export.__main__ import main as export
    from nas.latency.agent.__main__ import main as agent
    from nas.latency.app import _hydra_main as latency
    from nas.report.__main__ import main as report
    from nas.search.__main__ import main as search
    from nas.train.__main__ import main as train

    return {"search": search, "train": train, "latency": latency, "export": export, "report": report, "agent": agent}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    space_path = toy_space(root)
    space = load_space(space_path, variant="cifar")
    good = table_for(space, lambda use: 0.05 if use.choice == "skip" else 2.0)
    good.save(root / "table.json")
    data = json.loads((root / "table.json").read_text())
    key = sorted(data["entries"])[0]

    def variant(name, **changes):
        (root / name).write_text(json.dumps({**data, **changes}))

    variant("negative.json", entries={**data["entries"], key: {**data["entries"][key], "ms": -1.5}})
    variant("foreign_cpu.json", fingerprint={**data["fingerprint"], "device_name": "Some Other CPU 9000"})
    variant("missing_op.json", entries={k: v for k, v in data["entries"].items() if k != key})
    (root / "nan.json").write_text((root / "table.json").read_text().replace('"ms": 2.0', '"ms": NaN', 1))
    (root / "truncated.json").write_text((root / "table.json").read_text()[:200])
    variant("zero.json", entries={k: {**v, "ms": 0.0} for k, v in data["entries"].items()})
    (root / "bad_space.yaml").write_text("name: bad\ntype: layerwise\nvariants: {cifar: {resolution: 32}}\n")
    arch = space.sample(1)
    arch.save(root / "arch.yaml")
    (root / "bad_arch.yaml").write_text("space: fbnet\nchoices: [unclosed\n")
    (root / "wrong_arch.yaml").write_text(f"space: {space_path}\nspace_args: {{variant: cifar}}\n"
                                          "choices: {s1.0: not_an_op}\n")
    (root / "afile").write_text("a file, not a directory\n")
    pwned = root / "PWNED"
    torch.save({"search": Payload(pwned)}, root / "malicious.pt")

    def run_dir(name, files):
        d = root / name
        (d / "tb").mkdir(parents=True)
        (d / "tb" / "events.out.tfevents.1.host").write_bytes(b"\0events")
        (d / "config.yaml").write_text("seed: 0  # the earlier run's config\n")
        for fname, content in files.items():
            (d / fname).write_bytes(content)
        return d

    ckpt = root / "ok_ckpt.pt"
    torch.save({"search": {k: 0 for k in ("epoch", "supernet", "w_opt", "w_sched", "t_opt", "torch_rng",
                                          "python_rng", "history")}, "space": "toy", "epochs": 99}, ckpt)
    run_dir("fbnet_truncated", {"checkpoint.pt": ckpt.read_bytes()[:100]})
    run_dir("fbnet_malicious", {"checkpoint.pt": (root / "malicious.pt").read_bytes()})
    run_dir("fbnet_other_epochs", {"checkpoint.pt": ckpt.read_bytes()})
    run_dir("fbnet_empty", {})
    run_dir("controller_bad_ckpt", {"archs.jsonl": b"", "search.pt": b"PK\x03\x04 truncated"})
    run_dir("controller_malicious", {"archs.jsonl": b"", "search.pt": (root / "malicious.pt").read_bytes()})
    run_dir("controller_garbage_log", {"archs.jsonl": b"{not json}\n"})
    from nas.strategies import create_strategy

    first = space.encode(create_strategy("random", space, seed=0).ask())
    other = [1 - i for i in first]  # not what a seed-0 random search proposes first
    line = json.dumps({"step": 0, "choices": space.decode(other).choices, "encoding": other,
                       "result": {"reward": 0.5, "accuracy": 0.5, "latency_ms": 1.0}})
    run_dir("controller_other_seed", {"archs.jsonl": (line + "\n").encode()})
    run_dir("train_malicious", {"checkpoint.pt": (root / "malicious.pt").read_bytes()})
    run_dir("report_corrupt", {"summary.json": b"{\"kind\": \"search\", trunc"})
    return root


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def slow(app, args, fragment):
    """A row of the full table only (``-m slow``). The default run keeps at least one row per case of the
    issue and per app (45 rows, about half a minute: each row composes a Hydra config); the full table
    runs every row."""
    return pytest.param(app, args, fragment, marks=pytest.mark.slow)


def rows(cases=None):
    """``(app, args, fragment)`` of every row, slow or not."""
    return [c.values if hasattr(c, "values") else c for c in (CASES if cases is None else cases)]


S = "{root}/toy.yaml"
T = "{root}/table.json"
SEARCH = [f"space.name={S}", f"latency.table={T}", *SMALL]
CASES = [
    # --- search: names, keys, types (issue items 5, 6) ---
    ("search", ["method=foo"],
     "command line: method: expected one of bo, evolution, fbnet, mnasnet, optuna, random, got 'foo'"),
    ("search", ["space=foo"], "command line: space: expected one of fbnet, mnasnet, nb201, seeds, got 'foo'"),
    ("search", ["data=foo"], "command line: data: expected one of cifar10, cifar100, digits, imagefolder, got 'foo'"),
    slow("search", ["evaluator=foo"],
         "command line: evaluator: expected one of benchmark, oneshot, proxy, zerocost, got 'foo'"),
    slow("search", ["+experiment=foo"], "command line: experiment: expected one of cifar10_fbnet, got 'foo'"),
    ("search", ["method.epochs=abc"], "command line: method.epochs: expected an integer, got 'abc'"),
    ("search", ["latency.target_ms=abc"], "command line: latency.target_ms: expected a number, got 'abc'"),
    slow("search", ["latency.calibrated=maybe"],
         "command line: latency.calibrated: expected true or false, got 'maybe'"),
    ("search", ["method.nonsense=1"], "command line: method.nonsense: expected a key of method (epochs, "),
    slow("search", [*SEARCH, "+method.nonsense=1"], "config: method.nonsense: expected a key of method (epochs, "),
    ("search", ["bogus=1"], "command line: bogus: expected a key of the config (method, space, "),
    ("search", ["latency.table=a=b"], "command line: latency.table=a=b: expected key=value in Hydra's override syntax"),
    slow("search", ["~method"], "command line: method: expected a value (method=...)"),
    # --- search: numeric ranges, checked where the config is resolved (item 3) ---
    ("search", [*SEARCH, "method.epochs=-1"], "config: method.epochs: expected an integer >= 1, got -1"),
    slow("search", [*SEARCH, "method.tau0=0"], "config: method.tau0: expected a number > 0, got 0.0"),
    slow("search", [*SEARCH, "method.tau_decay=1.5"], "config: method.tau_decay: expected a number > 0 and <= 1"),
    ("search", [*SEARCH, "method.batch_size=0"], "config: method.batch_size: expected an integer >= 1, got 0"),
    ("search", [*SEARCH, "method.w_lr=nan"], "config: method.w_lr: expected a number >= 0, got nan"),
    slow("search", [*SEARCH, "method.theta_lr=inf"], "config: method.theta_lr: expected a number >= 0, got inf"),
    slow("search", [*SEARCH, "method.warmup_epochs=1"],
         "config: method.warmup_epochs: expected fewer than method.epochs (1)"),
    slow("search", [*SEARCH, "latency.target_ms=-1"],
         "config: latency.target_ms: expected a number > 0 (or null), got -1.0"),
    slow("search", [*SEARCH, "device.threads=0"], "config: device.threads: expected an integer >= 1 (or null), got 0"),
    ("search", [*SEARCH, "seed=-1"], "config: seed: expected an integer >= 0 and < 4294967296, got -1"),
    slow("search", [*SEARCH, "data.arch_fraction=1.5"], "config: data.arch_fraction: expected a number >= 0 and < 1"),
    slow("search", [*SEARCH, "latency.batch_size=0"], "config: latency.batch_size: expected an integer >= 1, got 0"),
    ("search", [*SEARCH, "latency.meet_target=-1"], "config: latency.meet_target: expected an integer >= 0, got -1"),
    slow("search", [*SEARCH, "latency.anchors=-2"], "config: latency.anchors: expected an integer >= 0, got -2"),
    slow("search", [*SEARCH, "latency.fit_nets=4"], "config: latency.fit_nets: expected an integer >= 8, got 4"),
    ("search", ["method=mnasnet", "method.budget=0"], "config: method.budget: expected an integer >= 1, got 0"),
    slow("search", ["method=random", "evaluator.lr=0"], "config: evaluator.lr: expected a number > 0, got 0.0"),
    slow("search", ["method=random", "evaluator=zerocost", "evaluator.proxy=foo"],
         "config: evaluator.proxy: expected one of nwot, synflow, params, macs, got 'foo'"),
    slow("search", [*SEARCH, "method.derive=target"],
         "config: method.derive: expected auto, argmax or sampled without a latency"),
    slow("search", [*SEARCH, "latency.constraint=medium"], "config: latency.constraint: expected one of soft, hard"),
    ("search", [*SEARCH, "latency.op_timing=alone"], "config: latency.op_timing: expected one of program, net, fit, got 'alone'"),
    ("latency", ["op_timing=alone"], "config: op_timing: expected one of program, net, fit, got 'alone'"),
    ("search", [*SEARCH, "latency.runtime=tflite"],
     "config: latency.runtime: expected one of eager, executorch, "),
    slow("search", [*SEARCH, "latency.runtime=onnxruntime", "latency.dtype=float16"],
         "config: latency.dtype: expected one of float32, int8, got 'float16'"),
    slow("search", [*SEARCH, "device.amp=fp8"], "config: device.amp: expected one of auto, bf16, off, got 'fp8'"),
    slow("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=evolution",
                "method.options.population_size=0"], "strategy 'evolution': population_size: expected an integer >= 2"),
    slow("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=mnasnet", "method.options.lr=-1"],
         "strategy 'mnasnet': lr: expected a number > 0, got -1"),
    # --- search: resume files, checked before any work (items 1, 2) ---
    ("search", [*SEARCH, "resume={root}/fbnet_truncated"],
     "fbnet_truncated/checkpoint.pt: <file>: expected an fbnet search checkpoint that torch.load reads with "
     "weights_only=True, got 'an unreadable file"),
    ("search", [*SEARCH, "resume={root}/fbnet_malicious"],
     "fbnet_malicious/checkpoint.pt: <file>: expected an fbnet search checkpoint that torch.load reads"),
    slow("search", [*SEARCH, "resume={root}/fbnet_other_epochs"],
         "checkpoint.pt: space / epochs: expected a search of space 'toy' with 1 epochs (this run's), got \"space "
         "'toy' with 99 epochs\""),
    slow("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=mnasnet", "+method.options.lr=-1"],
         "command line: +method.options.lr: expected no '+' (the key exists: method.options.lr=...)"),
    slow("search", [*SEARCH, "resume={root}/fbnet_empty"], "resume={root}/fbnet_empty: no checkpoint.pt there"),
    ("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=random",
                "resume={root}/controller_bad_ckpt"], "controller_bad_ckpt/search.pt: <file>: expected a search "
                                                      "checkpoint written by run_strategy"),
    ("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=random",
                "resume={root}/controller_malicious"], "controller_malicious/search.pt: <file>: expected a search "
                                                       "checkpoint"),
    slow("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=random",
                "resume={root}/controller_garbage_log"], "controller_garbage_log/archs.jsonl: line 1: expected a JSON "
                                                         "record of an arch of space 'toy'"),
    slow("search", [f"space.name={S}", f"latency.table={T}", *CONTROLLER, "method=random",
                "resume={root}/controller_other_seed"], "controller_other_seed/archs.jsonl: step 0: expected the arch "
                                                        "this strategy proposes with seed 0"),
    # --- search: latency tables (items 4, 7) and the rest of the environment ---
    ("search", [f"space.name={S}", "latency.table={root}/negative.json", *SMALL],
     "negative.json: entries['"),
    slow("search", [f"space.name={S}", "latency.table={root}/nan.json", *SMALL], "nan.json: entries['"),
    slow("search", [f"space.name={S}", "latency.table={root}/zero.json", *SMALL],
         "zero.json: entries: expected latencies that predict more than 0 ms for every arch of space 'toy'"),
    slow("search", [f"space.name={S}", "latency.table={root}/truncated.json", *SMALL],
         "truncated.json: expected a JSON latency table, the file is corrupt"),
    ("search", [f"space.name={S}", "latency.table={root}/foreign_cpu.json", *SMALL],
     "foreign_cpu.json: fingerprint differs from the target (device_name: table has 'Some Other CPU 9000'"),
    ("search", [f"space.name={S}", "latency.table={root}/missing_op.json", *SMALL],
     "{root}/missing_op.json: entries: expected an entry for every op of space 'toy', got none for 1 of them"),
    slow("search", [f"space.name={S}", "latency.table={root}/none.json", *SMALL],
         "none.json: expected an existing latency table file"),
    ("search", [*SEARCH, "latency.target_ms=0.001"], "latency.target_ms=0.001 is below the cheapest architecture"),
    slow("search", [*SEARCH, "latency.target_ms=1000"], "latency.target_ms=1000.0 is above the dearest architecture"),
    ("search", [*SEARCH, "device=cuda"], "device=cuda: no CUDA device is available here"),
    ("search", [*SEARCH, "data=cifar10", "data.root={root}/no_cifar"], "data.root="),
    ("search", ["space.name={root}/bad_space.yaml", f"latency.table={T}", *SMALL], "bad_space.yaml: "),
    ("search", [*SEARCH, "out_dir={root}/afile/run"], "config: out_dir: expected a directory that can be created"),
    slow("search", [*SEARCH, "hydra.run.dir={root}/afile/run"],
         "command line: hydra.run.dir: expected a directory Hydra can create and write"),
    # --- train ---
    ("train", ["model=nope"], "unknown model 'nope'"),
    ("train", ["model=mobilenetv1_025", "epochs=0"], "config: epochs: expected an integer >= 1, got 0"),
    ("train", ["model=mobilenetv1_025", "lr=abc"], "command line: lr: expected a number, got 'abc'"),
    slow("train", ["model=mobilenetv1_025", "momentum=1.0"],
         "config: momentum: expected a number >= 0 and < 1, got 1.0"),
    slow("train", ["model=mobilenetv1_025", "label_smoothing=-0.1"], "config: label_smoothing: expected a number >= 0"),
    slow("train", ["model=mobilenetv1_025", "device=cuda"], "device.type: expected cpu, or cuda where a CUDA device"),
    ("train", ["arch={root}/bad_arch.yaml"], "bad_arch.yaml: <file>: expected valid YAML"),
    slow("train", ["arch={root}/wrong_arch.yaml"], "wrong_arch.yaml: choices / space_args"),
    ("train", ["model=mobilenetv1_025", "resume={root}/train_malicious"],
     "train_malicious/checkpoint.pt: <file>: expected a checkpoint that torch.load reads with weights_only=True"),
    slow("train", ["model=mobilenetv1_025", "out_dir={root}/afile/run"], "config: out_dir: expected a directory that"),
    slow("train", ["model=mobilenetv1_025", "device.amp=fp8"],
         "config: device.amp: expected one of auto, bf16, off, got 'fp8'"),
    # --- latency ---
    ("latency", ["validate=1"], "config: validate: expected an integer >= 2 (or 0), got 1"),
    slow("latency", ["calibrate=2"], "config: calibrate: expected an integer >= 3 (or 0), got 2"),
    slow("latency", ["threads=0"], "config: threads: expected an integer >= 1 (or null), got 0"),
    slow("latency", ["min_run_time=0"], "config: min_run_time: expected a number > 0, got 0.0"),
    ("latency", ["dtype=float64"], "config: dtype: expected one of float32, float16, bfloat16, got 'float64'"),
    ("latency", ["device=cuda"], "device: 'cuda' was asked for, but no CUDA device is available here"),
    slow("latency", ["space=foo"], "command line: space: expected one of fbnet, mnasnet, nb201, seeds, got 'foo'"),
    ("latency", [f"space.name={S}", "table={root}/truncated.json"], "truncated.json: expected a JSON latency table"),
    slow("latency", [f"space.name={S}", "table={root}/negative.json"], "negative.json: entries['"),
    slow("latency", ["runtime=tflite"],
         "config: runtime: expected one of eager, executorch, "),
    slow("latency", ["dtype=int8"], "config: dtype: expected one of float32, float16, bfloat16, got 'int8'"),
    slow("latency", ["busy_wait=-1"], "config: busy_wait: expected a number >= 0, got -1.0"),
    slow("latency", ["anchors=-1"], "config: anchors: expected an integer >= 0, got -1"),
    ("latency", ["op_timing=fit", "fit_nets=4"], "config: fit_nets: expected an integer >= 8, got 4"),
    # --- export ---
    ("export", ["arch={root}/missing.yaml", "out={root}/exp"], "missing.yaml: <file>: expected an existing arch file"),
    ("export", ["model=mobilenetv2_035", "variant=cifar", "weights={root}/malicious.pt", "out={root}/exp"],
     "malicious.pt: <file>: expected a checkpoint that torch.load reads with weights_only=True"),
    ("export", ["model=mobilenetv2_035"], "config: out: expected an output directory (out=<dir>)"),
    slow("export", ["model=mobilenetv2_035", "out={root}/afile"], "config: out: expected a directory to write into"),
    ("export", ["model=mobilenetv2_035", "colour=red", "out={root}/exp"], "command line: colour: expected a key of"),
    slow("export", ["arch={root}/arch.yaml", "model=mobilenetv2_035", "out={root}/exp"], "exactly one of arch="),
    ("export", ["arch={root}/wrong_arch.yaml", "out={root}/exp"], "not_an_op"),
    slow("export", ["model=mobilenetv2_035", "seed=-3", "out={root}/exp"], "config: seed: expected an integer >= 0"),
    slow("export", ["model=mobilenetv2_035", "formats=[pt,tflite]", "out={root}/exp"],
         "export: formats: expected names from pt, torchscript, executorch"),
    slow("export", ["model=mobilenetv2_035", "formats=pt,tflite", "out={root}/exp"], "got 'tflite'"),
    # --- report ---
    ("report", ["{root}/no_such_run"], "no_such_run: "),
    ("report", ["{root}/report_corrupt"], "report_corrupt/summary.json: "),
    ("report", ["{root}/fbnet_empty", "measure=maybe"], "command line: measure: expected true or false, got 'maybe'"),
    slow("report", ["baselines=mobilenetv1_025", "rounds=0"], "config: rounds: expected an integer >= 1, got 0"),
    slow("report", ["baselines=no_such_net"], "unknown model 'no_such_net'"),
    slow("report", ["baselines=mobilenetv1_025", "variant=huge"], "config: variant: expected one of cifar, imagenet"),
    # --- the device agent's pack (python -m nas.latency.agent pack) ---
    ("agent", ["pack", f"space.name={S}", "runtime=eager", "out={root}/job"],
     "runtime: expected a deployment runtime for a device job"),
    slow("agent", ["pack", f"space.name={S}", "runtime=onnxruntime", "passes=0", "out={root}/job"],
         "config: passes: expected an integer >= 1, got 0"),
    slow("agent", ["pack", f"space.name={S}", "runtime=onnxruntime", "bogus=1", "out={root}/job"],
         "command line: bogus: expected a key of"),
    ("agent", ["pack", f"space.name={S}", "runtime=onnxruntime"], "command line: out: expected out=DIR exactly once"),
    slow("agent", ["pack", f"space.name={S}", "runtime=onnxruntime", "op_timing=fit", "out={root}/job"],
         "op_timing=fit: a device job times ops or op networks, not the networks a fit needs yet"),
    slow("agent", ["pack", f"space.name={S}", "runtime=onnxruntime", "out={root}/afile"],
         "afile: out: expected a folder for the job, got a file"),
    slow("agent", ["pack", f"space.name={S}", "runtime=onnxruntime", "out={root}/report_corrupt"],
         "report_corrupt: out: expected an empty folder or an earlier (or interrupted) job, got a folder holding "
         "config.yaml, summary.json, tb"),
    slow("agent", ["unpack"], "command line: expected the command pack first, got 'unpack'"),
]


def _ids():
    """Each case by what sets it apart from the common arguments (e.g. ``search:method.tau0=0``)."""
    common = set(SEARCH) | set(SMALL) | set(CONTROLLER) | {f"space.name={S}", f"latency.table={T}"}
    out = []
    for app, args, _ in rows():
        own = [a.replace("{root}/", "") for a in args if a not in common] or ["defaults"]
        name = f"{app}:{' '.join(own)}"
        out.append(name if name not in out else f"{name}#{out.count(name) + 1}")
    return out


def test_the_table_has_at_least_40_cases():
    table = rows()
    default = [c for c in CASES if not hasattr(c, "marks")]
    assert len(default) >= 40 and len(table) >= 100 and len({(a, tuple(args)) for a, args, _ in table}) == len(table)


@pytest.mark.parametrize("app, args, fragment", CASES, ids=_ids())
def test_bad_input(sandbox, monkeypatch, capsys, app, args, fragment):
    monkeypatch.chdir(sandbox)
    args = [a.format(root=sandbox) for a in args]
    fragment = fragment.format(root=sandbox)
    before = snapshot(sandbox)
    code = _apps()[app](args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and "Warning" not in line
             and not line.startswith("  ")]  # Python's warnings (e.g. a tensorboard deprecation) are not errors
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in captured.err and "HYDRA_FULL_ERROR" not in captured.err
    assert snapshot(sandbox) == before  # nothing changed, nothing added: no run dir left behind
    assert not (sandbox / "PWNED").exists()  # the malicious pickles were refused, not run


@pytest.mark.slow  # 5 interpreters (~40 s); test_bad_input runs the same code in-process
@pytest.mark.parametrize("app, args, fragment", [
    ("nas.search", ["method=foo"], "error: command line: method: expected one of"),
    ("nas.search", [*SEARCH, "resume={root}/fbnet_truncated"], "fbnet_truncated/checkpoint.pt: <file>: expected"),
    ("nas.train", ["model=mobilenetv1_025", "epochs=abc"], "error: command line: epochs: expected an integer"),
    ("nas.export", ["model=mobilenetv2_035"], "error: config: out: expected an output directory"),
    ("nas.report", ["{root}/report_corrupt", "rounds=1"], "report_corrupt/summary.json"),
], ids=["search-group", "search-resume", "train-type", "export-out", "report-corrupt"])
def test_real_processes(sandbox, app, args, fragment):
    """The same through ``python -m``: exit code 2, one line on stderr, no traceback, nothing written."""
    before = snapshot(sandbox)
    args = [a.format(root=sandbox) for a in args]
    proc = subprocess.run([sys.executable, "-m", app, *args], cwd=sandbox, env=ENV, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and fragment.format(root=sandbox) in lines[0], proc.stderr
    assert snapshot(sandbox) == before


def test_help_lists_options_not_schemas(capsys):
    for name, app in _apps().items():
        if name == "agent":  # not a Hydra app: its --help is its usage line
            continue
        assert app(["--help"]) == 0
        out = capsys.readouterr().out
        groups = out.split("Config groups (group=option):")[-1].split("Config (")[0] if "Config groups" in out else ""
        assert f"nas.{name}" in out and "Config (override any key" in out and "schema" not in groups, name
    assert _apps()["search"](["--help"]) == 0
    assert "  method: bo, evolution, fbnet (chosen), mnasnet, optuna, random" in capsys.readouterr().out
