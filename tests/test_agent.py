"""Device agent round trip: pack a job (ONNX Runtime, tiny space), run its stand-alone measure.py
where neither nas nor torch can be imported, import result.json into a fingerprinted table, use it
in a search's table check. The slow test runs the job in a fresh venv with only onnxruntime + numpy."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nas.latency import LatencyTableError
from test_latency_fixtures import tiny_space

pytest.importorskip("onnxruntime")

BLOCK = r'''
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("nas", "torch"):
            raise ModuleNotFoundError(f"{name} is blocked: the device job must not need it")
sys.meta_path.insert(0, Block())
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from nas.latency.agent.__main__ import main

    tmp = tmp_path_factory.mktemp("agent")
    tiny_space(tmp)
    out = tmp / "job"
    assert main(["pack", f"space.name={tmp / 'tiny_layerwise.yaml'}",
                 "space.variant=cifar", "runtime=onnxruntime", "calibrate=3", "validate=2", "threads=1",
                 "progress=false", f"out={out}"]) == 0
    return out


def run_job(python, job, *extra):
    return subprocess.run([python, "-c", BLOCK, str(job / "measure.py"), "--quick", *extra], capture_output=True,
                          text=True, timeout=300, cwd=job, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})


def check_import(job, tmp_path):
    from nas.search.run import resolve_table

    cfg = OmegaConf.create({"import_result": str(job / "result.json"), "allow_busy": True, "table": None,
                            "cache_dir": str(tmp_path / "tables")})
    table_path = Path(run_import_only(cfg)["table"])
    table = json.loads(table_path.read_text())
    fp = table["fingerprint"]
    assert fp["runtime"] == "onnxruntime" and fp["torch"] is None and fp["dtype"] == "float32" and fp["threads"] == 1
    assert table["calibration"]["n_archs"] == 3 and table["meta"]["reference"]["ms"] > 0
    space = tiny_space(tmp_path)
    lat = {"table": str(table_path), "device": None, "batch_size": 1, "dtype": "float32", "allow_mismatch": False,
           "runtime": "onnxruntime"}
    assert resolve_table(OmegaConf.create({"latency": lat}), space, "cpu", 1).predict(space, space.sample(
        __import__("random").Random(0))) > 0
    lat["runtime"] = "eager"
    with pytest.raises(LatencyTableError, match="onnxruntime"):
        resolve_table(OmegaConf.create({"latency": lat}), space, "cpu", 1)


def run_import_only(cfg):
    from nas.latency.agent.importer import import_result

    return import_result(cfg.import_result, cfg)


@pytest.mark.slow  # lowers 19 programs (the dynamo ONNX exporter: ~2.5 s each)
def test_pack_writes_a_self_contained_job(job):
    spec = json.loads((job / "job.json").read_text())
    assert spec["runtime"] == "onnxruntime" and len(spec["calibration"]) == 3 and len(spec["validation"]) == 2
    files = {f for item in spec["ops"] + spec["calibration"] + [spec["reference"]] for f in [item["file"]]}
    assert all((job / f).is_file() for f in files) and (job / "measure.py").is_file()
    assert "import nas" not in (job / "measure.py").read_text() and "import torch\n" not in (job / "measure.py").read_text()


@pytest.mark.slow
def test_job_runs_without_nas_or_torch_and_imports(job, tmp_path):
    proc = run_job(sys.executable, job)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((job / "result.json").read_text())
    assert set(result["ops"]) == {o["key"] for o in result["job"]["ops"]} and len(result["validation"]) == 2
    check_import(job, tmp_path)


def synthetic_result(tmp_path, space, load=0.2):
    """A result.json as measure.py writes it, without lowering anything (ops 0.1 ms + 0.02 ms per call)."""
    import random

    import torch

    from nas.latency.measure import reference_arch
    from nas.latency.ops import build_use, op_key, space_uses, use_stats

    ops, figures = [], {}
    for use in space_uses(space):
        with torch.device("meta"):
            module, shapes = build_use(space, use)
        ops.append({"key": op_key(use), "inputs": [list(s) for s in shapes], **use_stats(module, use, 1)})
        figures[op_key(use)] = {"ms": 0.12, "ratio": 0.1, "runs": 10}
    shapes = {"x".join(str(v) for v in o["inputs"][0]) for o in ops}
    archs = [space.sample(random.Random(i)) for i in range(4)]
    job = {"space_args": {"name": str(tmp_path / "tiny_layerwise.yaml"), "variant": "cifar", "width_mult": 1.0,
                          "resolution": space.resolution, "num_classes": space.num_classes},
           "runtime": "onnxruntime", "dtype": "int8", "batch_size": 1, "context_mb": 16.0, "ops": ops,
           "reference": {"arch": space.encode(reference_arch(space))},
           "calibration": [{"arch": space.encode(a)} for a in archs[:3]], "validation": [{"arch": space.encode(archs[3])}]}
    n_ops = lambda a: len(space.op_instances(a)) + 2  # noqa: E731
    data = {"format": "nas-latency-result", "version": 1, "job": job, "device": {"cpu": "Cortex-A76"},
            "runtime": "onnxruntime", "runtime_version": "1.99.0", "threads": 1, "passes": 3, "date": "2026-11-30",
            "reference": {"ms": 1.0, "blocks": 100}, "ops": figures,
            "overhead": {k: {"ms": 0.02, "ratio": 0.02, "runs": 10} for k in shapes},
            "calibration": [0.1 * n_ops(a) + 0.05 for a in archs[:3]], "validation": [0.1 * n_ops(archs[3]) + 0.05],
            "load": {"loadavg_before": load, "loadavg_after": load, "cpu_share": 0.99, "reference_spread": 0.02,
                     "cores": 4, "seconds": 60.0}}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data))
    return path


def test_import_turns_a_result_into_a_fingerprinted_table(tmp_path, monkeypatch):
    from nas.latency.agent.importer import import_result

    monkeypatch.delenv("NAS_ALLOW_BUSY", raising=False)
    space = tiny_space(tmp_path)
    path = synthetic_result(tmp_path, space)
    cfg = OmegaConf.create({"allow_busy": False, "table": None, "cache_dir": str(tmp_path / "tables")})
    out = import_result(path, cfg)
    table = json.loads(Path(out["table"]).read_text())
    fp = table["fingerprint"]
    assert fp == {**fp, "runtime": "onnxruntime", "runtime_version": "1.99.0", "dtype": "int8", "torch": None,
                  "device_name": "Cortex-A76", "threads": 1}
    assert all(abs(e["ms"] - 0.10) < 1e-9 for e in table["entries"].values())  # the call overhead is subtracted
    assert table["calibration"]["n_archs"] == 3 and out["validation"]["calibrated"]["mape"] < 1.0
    busy = synthetic_result(tmp_path, space, load=7.0)
    with pytest.raises(LatencyTableError, match="busy"):
        import_result(busy, cfg)


def test_import_of_an_in_net_result_prices_what_each_op_adds_to_the_base(tmp_path):
    """A job packed with op_timing=net: its 'ops' are networks, the reference is the base network;
    an entry is its network's excess over the base (not below 0), the base's own choices cost 0."""
    from nas.latency.agent.importer import result_table
    from nas.latency.in_net import BASE_KEY, base_arch, plan
    from nas.latency.ops import op_key

    space = tiny_space(tmp_path)
    path = synthetic_result(tmp_path, space)
    data = json.loads(path.read_text())
    base = base_arch(space)
    items, zero = plan(space, base)
    job = data["job"]
    job.update(op_timing="net", zero_ops=[{"key": op_key(u), "params": 1, "act": 1} for u in zero])
    job["ops"] = [{"key": it.key, "inputs": [[3, 8, 8]], "params": 1, "act": 1} for it in items]
    job["ops"].append({"key": BASE_KEY, "inputs": [[3, 8, 8]]})
    data["ops"] = {it.key: {"ms": 1.0 + 0.05 * i, "ratio": 1.0 + 0.05 * i, "runs": 10} for i, it in enumerate(items)}
    data["ops"][BASE_KEY] = {"ms": 1.0, "ratio": 1.0, "runs": 10}
    data.pop("overhead")
    path.write_text(json.dumps(data))
    table, space, _ = result_table(path, allow_busy=True)
    assert table.const_ms == 1.0 and set(table.const_covers) == {"stem", "head"} and not table.missing(space)
    assert BASE_KEY not in table.entries
    assert table.meta["op_timing"] == "net"
    for i, it in enumerate(items):
        assert table.entries[it.key].ms == pytest.approx(0.05 * i)
        assert table.predict(space, it.arch, calibrated=False) == pytest.approx(1.0 + 0.05 * i)
    assert table.predict(space, base, calibrated=False) == pytest.approx(1.0)


@pytest.mark.slow  # lowers the tiny space's base network, 6 networks with one op changed, 3 calibration nets
def test_an_in_net_job_runs_without_nas_or_torch_and_imports(tmp_path):
    from nas.latency.agent.__main__ import main
    from nas.latency.agent.importer import result_table
    from nas.latency.in_net import BASE_KEY, base_arch, plan

    space = tiny_space(tmp_path)
    out = tmp_path / "job"
    assert main(["pack", f"space.name={tmp_path / 'tiny_layerwise.yaml'}", "space.variant=cifar",
                 "runtime=onnxruntime", "op_timing=net", "calibrate=3", "threads=1", "progress=false",
                 f"out={out}"]) == 0
    spec = json.loads((out / "job.json").read_text())
    items, zero = plan(space, base_arch(space))
    assert spec["op_timing"] == "net" and spec["overhead"] == []
    assert [o["key"] for o in spec["ops"]] == [BASE_KEY] + [i.key for i in items] and len(spec["zero_ops"]) == len(zero)
    proc = run_job(sys.executable, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table, space, data = result_table(out / "result.json", allow_busy=True)
    assert table.meta["op_timing"] == "net" and table.const_ms == pytest.approx(data["ops"][BASE_KEY]["ms"], abs=1e-6)
    assert not table.missing(space) and table.calibration is not None


def test_import_of_a_broken_result_is_one_line(tmp_path):
    from nas.latency.agent.importer import read_result

    bad = tmp_path / "result.json"
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(LatencyTableError) as err:
        read_result(bad)
    assert "\n" not in str(err.value) and "format" in str(err.value)


@pytest.mark.slow
def test_job_runs_in_a_venv_with_only_the_runtime(job, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    pip = subprocess.run([py, "-m", "pip", "install", "-q", "onnxruntime", "numpy"], capture_output=True, text=True,
                         timeout=600)
    assert pip.returncode == 0, pip.stderr[-2000:]
    assert subprocess.run([py, "-c", "import torch"], capture_output=True).returncode != 0  # no torch there
    proc = run_job(py, job, "--out", str(job / "result.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_import(job, tmp_path)
