"""kill -9 at a random point of every long job, resume, and compare with the uninterrupted seeded run
(issue #19): the search with every method (same arch, same history / evaluated archs), training (same
history and weights), the latency table build (run again: the same table), the device agent's pack (run
again into the same folder: the same job).

Each job runs three times as a real process (``python -m ...``, this checkout): uninterrupted; killed
with SIGKILL at a uniformly random moment after its checkpoint (or log) first appears; resumed. The
kill moment is drawn from the uninterrupted run's own duration, so it falls inside the job; a kill that
misses (the job already ended) is retried at an earlier moment.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Sequence

import pytest
import torch
import yaml

from nas.space import load_space
from test_search import table_for, toy_space

pytestmark = pytest.mark.slow  # ~20 interpreters; run with -m slow

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
       "NAS_PROGRESS_INTERVAL": "3600"}
SEED = int(os.environ.get("NAS_KILL_SEED", "0"))


def run(cmd: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def timed_marker(cmd: Sequence[str], cwd: Path, marker: Path, done: Path = None) -> float:
    """Run to the end; seconds from the marker's first appearance to the end, or to ``done``'s appearance
    (the job's last write: after it only the interpreter's exit is left, which a kill test need not hit)."""
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = finished = None
    while proc.poll() is None:
        if seen is None and marker.exists():
            seen = time.monotonic()
        if finished is None and done is not None and done.exists():
            finished = time.monotonic()
        time.sleep(0.02)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert seen is not None, f"{marker} never appeared"
    return (finished or time.monotonic()) - seen


def kill_at_random_point(cmd: Sequence[str], cwd: Path, marker: Path, span: float, rng: random.Random,
                         out: Path = None, done: Path = None) -> float:
    """Start ``cmd``, SIGKILL it at a random moment in ``[0, span)`` after ``marker`` appears; returns that
    moment. Retries (with a shorter span, after emptying ``out``, default the marker's directory) when
    the job ended before the kill, or had written ``done`` (its last write) by then."""
    for attempt in range(4):
        delay = rng.uniform(0.0, span * 0.9 ** attempt)
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            time.sleep(0.01)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # kill -9: no handler, no flush, no cleanup
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            if done is None or not done.exists():
                return delay
        proc.wait()
        shutil.rmtree(out or marker.parent)  # ended before the kill: start again from nothing
        if out is not None:
            out.mkdir()
    pytest.fail(f"the job always ended within {span:.2f} s of {marker.name} appearing")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    path = toy_space(root)
    space = load_space(path, variant="cifar")
    table = table_for(space, lambda use: 0.05 if use.choice == "skip" else 2.0).save(root / "table.json")
    return root, path, table


def search_cmd(path: Path, table: Path, out: Path, *extra: str) -> List[str]:
    return [sys.executable, "-m", "nas.search", f"space.name={path}", f"latency.table={table}",
            "latency.measure=false", "data.limit_train=192", "data.limit_val=64", "device.threads=1",
            f"out_dir={out}", *extra]


FBNET = ["method.epochs=5", "method.warmup_epochs=1", "method.batch_size=16", "method.max_steps_per_epoch=4",
         "method.samples=2"]
CONTROLLER = ["method.budget=14", "method.checkpoint_every=3", "evaluator=zerocost", "evaluator.batch_size=16",
              "evaluator.repeats=2"]
METHODS = {
    "fbnet": FBNET,
    "mnasnet": ["method=mnasnet", *CONTROLLER, "method.options.batch_size=4"],
    "evolution": ["method=evolution", *CONTROLLER, "method.options.population_size=5",
                  "method.options.sample_size=3"],
    "optuna": ["method=optuna", *CONTROLLER, "+method.options.n_startup_trials=4"],
    "random": ["method=random", *CONTROLLER],
    "bo": ["method=bo", *CONTROLLER, "method.options.initial=4"],
}


def _log(run_dir: Path) -> list:
    """The evaluated archs and their figures (evaluation times differ between runs)."""
    rows = [json.loads(line) for line in (run_dir / "archs.jsonl").read_text().splitlines() if line.strip()]
    return [(r["step"], r["choices"], {k: v for k, v in r["result"].items() if k != "eval_s"}) for r in rows]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_search_killed_and_resumed_ends_like_the_uninterrupted_run(toy, tmp_path, method):
    root, path, table = toy
    extra = METHODS[method]
    marker = "checkpoint.pt" if method == "fbnet" else "archs.jsonl"
    full, killed = tmp_path / "full", tmp_path / "killed"
    span = timed_marker(search_cmd(path, table, full, *extra), tmp_path, full / marker)
    rng = random.Random(f"{SEED}:{method}")
    kill_at_random_point(search_cmd(path, table, killed, *extra), tmp_path, killed / marker, span, rng)
    run(search_cmd(path, table, killed, *extra, f"resume={killed}"), tmp_path)
    a, b = (json.loads((d / "summary.json").read_text()) for d in (full, killed))
    if method == "fbnet":
        assert yaml.safe_load((killed / "arch.yaml").read_text()) == yaml.safe_load((full / "arch.yaml").read_text())
        assert b["history"] == a["history"]  # every epoch's losses, accuracy, expected latency
        sa = torch.load(full / "checkpoint.pt", weights_only=True)["search"]["supernet"]
        sb = torch.load(killed / "checkpoint.pt", weights_only=True)["search"]["supernet"]
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    else:
        assert _log(killed) == _log(full)  # the same archs, in the same order, with the same figures
        assert (killed / "best_arch.yaml").read_text() == (full / "best_arch.yaml").read_text()
        assert b["found"]["reward"] == a["found"]["reward"]
    assert b["found"]["latency_ms"] == a["found"]["latency_ms"]


def test_training_killed_and_resumed_ends_like_the_uninterrupted_run(tmp_path):
    cmd = [sys.executable, "-m", "nas.train", "model=mobilenetv1_025", "epochs=4", "batch_size=32",
           "max_steps_per_epoch=4", "data.limit_train=256", "data.limit_val=64", "measure_latency=false",
           "device.threads=1"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    span = timed_marker([*cmd, f"out_dir={full}"], tmp_path, full / "checkpoint.pt")
    kill_at_random_point([*cmd, f"out_dir={killed}"], tmp_path, killed / "checkpoint.pt", span,
                         random.Random(f"{SEED}:train"))
    run([*cmd, f"out_dir={killed}", f"resume={killed}"], tmp_path)
    a, b = (json.loads((d / "result.json").read_text()) for d in (full, killed))
    assert b["history"] == a["history"] and b["val_acc"] == a["val_acc"]
    wa, wb = (torch.load(d / "weights.pt", weights_only=True) for d in (full, killed))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


FAKE_TIMER = '''
import sys, time
import nas.latency.measure as measure

def fake_time_module(module, shapes, s, what="module", reference=None, factory=None):
    """A deterministic latency per module (its size), taking a moment like a real measurement."""
    time.sleep(0.05)
    return measure.Timing(0.01 + sum(p.numel() for p in module.parameters()) * 1e-5, 0.0, 1)

measure.time_module = fake_time_module
from nas.latency.app import main
sys.argv = ["nas.latency", *sys.argv[1:]]
main()
'''


def test_latency_build_killed_and_run_again_gives_the_same_table(toy, tmp_path):
    """A killed build leaves no half table (atomic writes); run again, it builds the same table. The
    timings are replaced by deterministic ones (a function of each op's size): real timings differ from
    run to run, and what is tested here is what a kill does to the build, not the clock."""
    root, path, _ = toy
    (tmp_path / "fake_latency.py").write_text(FAKE_TIMER)

    def cmd(cache):
        return [sys.executable, "fake_latency.py", f"space.name={path}", "space.variant=cifar", "threads=1",
                "reference=false", "context_mb=0", "passes=2", "net_passes=2", "calibrate=4", "progress=false", "allow_busy=true",
                f"cache_dir={cache}", "hydra.run.dir=hydra_run"]

    full, killed = tmp_path / "full", tmp_path / "killed"
    started = time.monotonic()
    run(cmd(full), tmp_path)
    span = time.monotonic() - started
    (killed).mkdir()
    kill_at_random_point(cmd(killed), tmp_path, killed, span, random.Random(f"{SEED}:latency"), out=killed)
    for table_file in killed.glob("*.json"):  # anything the killed build left is a whole table
        json.loads(table_file.read_text())
    run(cmd(killed), tmp_path)
    [a], [b] = (list(d.glob("*.json")) for d in (full, killed))
    ta, tb = json.loads(a.read_text()), json.loads(b.read_text())
    for t in (ta, tb):
        t["fingerprint"].pop("date")
        for k in ("ops_seconds", "calibration_seconds", "load"):  # durations and the machine's load differ
            t["meta"].pop(k, None)
    assert a.name == b.name and tb == ta


def test_agent_pack_killed_and_run_again_packs_the_same_job(tmp_path):
    """A pack killed while lowering leaves no job.json (written last, atomically): the folder is not a job
    a device could run; packed again into the same folder, the job is the one an uninterrupted pack
    writes (the same programs, inputs and weights)."""
    pytest.importorskip("onnxruntime")
    from test_latency_fixtures import tiny_space

    tiny_space(tmp_path)
    space_file = tmp_path / "tiny_layerwise.yaml"

    def cmd(out):
        return [sys.executable, "-m", "nas.latency.agent", "pack", f"space.name={space_file}", "space.variant=cifar",
                "runtime=onnxruntime", "calibrate=3", "validate=2", "threads=1", "progress=false", f"out={out}"]

    full, killed = tmp_path / "full", tmp_path / "killed"
    span = timed_marker(cmd(full), tmp_path, full / "programs", done=full / "job.json")
    killed.mkdir()
    kill_at_random_point(cmd(killed), tmp_path, killed / "programs", span, random.Random(f"{SEED}:pack"), out=killed,
                         done=killed / "job.json")
    assert not (killed / "job.json").exists()  # a killed pack is never taken for a whole job
    run(cmd(killed), tmp_path)
    a, b = (json.loads((d / "job.json").read_text()) for d in (full, killed))
    assert b == a
    names = [sorted(p.name for p in (d / "programs").iterdir()) for d in (full, killed)]
    assert names[1] == names[0]
