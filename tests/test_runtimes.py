"""Deployment runtimes (nas.runtimes): lowering ops and nets, fp32 equality and int8 agreement with
eager, fingerprints, a search refusing a table of another runtime, a missing extra, exports. Each
backend's tests skip where its package is absent; nothing asserts on speed."""

import importlib.util

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nas.errors import NasError
from nas.latency import LatencyTableError, get_table, load_table, target_fingerprint
from nas.latency.measure import Setting, time_module
from nas.latency.ops import build_use, space_uses
from nas.runtimes import RuntimeUnavailable, get_runtime, lower
from test_latency_fixtures import synthetic_table, tiny_space

FAST = dict(min_run_time=0.001, passes=1, net_passes=1, progress=False)
# ExecuTorch's lowering takes 5-20 s per program here, OpenVINO's compile a few: those run with -m slow
PARAMS = ["onnxruntime", pytest.param("executorch", marks=pytest.mark.slow),
          pytest.param("openvino", marks=pytest.mark.slow)]


def backend(name):
    rt = get_runtime(name)
    if not rt.available():
        pytest.skip(f"{name} needs {', '.join(rt.missing())}")
    return rt


def first_op(space):
    use = next(u for u in space_uses(space) if u.config["block"] == "mbconv")
    torch.manual_seed(0)
    module, shapes = build_use(space, use)
    return module.eval(), [torch.randn(1, *s) for s in shapes]


def tiny_net(space):
    torch.manual_seed(0)
    return space.build(space.sample(__import__("random").Random(1))).eval()


def trained_like(net):
    """``net`` with the BN affines and statistics of a trained net: logits of order 1-10, not the ~1e-9 of a
    fresh init (zero residual gammas), so a 1e-4 check sees a lower precision (e.g. bf16: ~1e-2 off)."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 0.5 + 0.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
    return net


@pytest.mark.parametrize("name", PARAMS)
def test_lowered_op_and_net_match_eager_fp32(tmp_path, name):
    rt = backend(name)
    space = tiny_space(tmp_path)
    op, inputs = first_op(space)
    prog = lower(rt, op, inputs, "float32")
    with torch.no_grad():
        assert float((prog(*inputs) - op(*inputs)).abs().max()) <= 1e-4
    net = trained_like(tiny_net(space))
    x = torch.randn(2, 3, space.resolution, space.resolution)
    prog = lower(rt, net, [x[:1]], "float32")
    with torch.no_grad():
        ref = net(x[:1])
        assert float(ref.abs().max()) > 0.2  # a check that can see precision (bf16 would be ~1e-3 off)
        assert float((prog(x[:1]) - ref).abs().max()) <= 1e-4
    again = prog.reload()  # a copy for timing in context: the same program, loaded again
    assert torch.equal(again(x[1:]), prog(x[1:]))
    assert rt.version() and rt.version()[0].isdigit()


@pytest.mark.slow  # as every OpenVINO test: after OpenVINO ran in this process, a later Hydra CLI test under capsys
# finds pytest's captured stderr closed (the known "lost sys.stderr"; not in the default run)
def test_openvino_reads_programs_without_its_converter(tmp_path, monkeypatch):
    """``ov.convert_model`` forks copies of the process to send telemetry, which ran beside every timing:
    sessions and exports read the ONNX program with the Core's reader instead (the converter, blocked here,
    is never called) and give the eager net's outputs."""
    rt = backend("openvino")
    import openvino as ov

    def refuse(*args, **kwargs):
        raise AssertionError("ov.convert_model called")

    monkeypatch.setattr(ov, "convert_model", refuse)
    space = tiny_space(tmp_path)
    op, inputs = first_op(space)
    prog = lower(rt, op, inputs, "float32")
    with torch.no_grad():
        assert float((prog(*inputs) - op(*inputs)).abs().max()) <= 1e-4


@pytest.mark.parametrize("name", PARAMS)
def test_int8_net_agrees_with_eager(tmp_path, name):
    rt = backend(name)
    space = tiny_space(tmp_path)
    net = tiny_net(space)
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(24, 3, space.resolution, space.resolution, generator=g)
    prog = lower(rt, net, [xs[:1]], "int8", calibration=[[x] for x in xs[:8].split(1)])
    with torch.no_grad():
        ref = torch.cat([net(x) for x in xs[8:].split(1)])
        got = torch.cat([prog(x) for x in xs[8:].split(1)])
    corr = np.corrcoef(ref.flatten().numpy(), got.flatten().numpy())[0, 1]
    assert corr > 0.9, corr  # quantized, not equal; the same function
    assert not torch.equal(ref, got)  # really int8


def test_runtime_in_timing_setting(tmp_path):
    rt = backend("onnxruntime")
    space = tiny_space(tmp_path)
    op, inputs = first_op(space)
    t = time_module(op, [tuple(inputs[0].shape[1:])], Setting("cpu", "int8", 1, 1, 0.001, runtime=rt.name,
                                                            context_mb=0.05), "op")
    assert t.median_ms > 0 and t.runs >= 1
    with pytest.raises(LatencyTableError, match="dtype"):
        Setting("cpu", "int8", 1, 1)  # eager has no int8


def test_fingerprint_names_runtime_version_and_dtype():
    eager = target_fingerprint("cpu", 1, "float32", 1, 8)
    assert "runtime" not in eager and "runtime_version" not in eager  # eager tables as before (same cache names)
    backend("onnxruntime")
    fp = target_fingerprint("cpu", 1, "int8", 1, 8, runtime="onnxruntime")
    import onnxruntime

    assert fp["runtime"] == "onnxruntime" and fp["runtime_version"] == onnxruntime.__version__ and fp["dtype"] == "int8"


def test_missing_runtime_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "executorch" else real(n, *a))
    with pytest.raises(RuntimeUnavailable) as err:
        get_table(tiny_space(tmp_path), threads=1, cache_dir=tmp_path, runtime="executorch", calibrate=0, **FAST)
    msg = str(err.value)
    assert "\n" not in msg and "pip install -e '.[executorch]'" in msg
    assert isinstance(err.value, NasError)  # the apps print it as their one-line errors
    with pytest.raises(NasError, match="one of eager, executorch, onnxruntime, openvino"):
        get_runtime("tflite")


def test_builder_plumbing_in_a_runtime(tmp_path, fake_backend):
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, runtime="fake", dtype="int8", calibrate=3, context_mb=0.0,
                      **FAST)
    fp = table.fingerprint
    assert fp["runtime"] == "fake" and fp["runtime_version"] == "0.1" and fp["dtype"] == "int8"
    assert not table.missing(space) and table.calibration is not None
    over = table.meta["call_overhead_ms"]  # one trivial program per input shape, subtracted from the entries
    assert over and all(v > 0 for v in over.values())
    assert {"8x8x8", "3x8x8"} <= set(over)
    assert set(table.meta["load"]) >= {"loadavg_before", "cpu_share", "wait_share", "busy"}
    again = get_table(space, threads=1, cache_dir=tmp_path, runtime="fake", dtype="int8", calibrate=3, context_mb=0.0,
                      **FAST)
    assert again.path == table.path  # cached under its fingerprint
    eager = get_table(space, threads=1, cache_dir=tmp_path, calibrate=0, **FAST)
    assert eager.path != table.path and "runtime" not in eager.fingerprint
    assert "-cpu-fake-b1-int8-t1-" in table.path.name and "-cpu-b1-float32-t1-" in eager.path.name


@pytest.mark.slow
def test_table_built_in_a_runtime(tmp_path):
    backend("onnxruntime")
    space = tiny_space(tmp_path)
    table = get_table(space, threads=1, cache_dir=tmp_path, runtime="onnxruntime", dtype="int8", calibrate=3,
                      context_mb=0.0, fit_nets=16, **FAST)
    fp = table.fingerprint
    assert table.meta["op_timing"] == "fit" and table.meta["fit_nets"] == 16  # the runtime's default
    assert fp["runtime"] == "onnxruntime" and fp["dtype"] == "int8" and fp["runtime_version"]
    assert not table.missing(space) and table.calibration is not None
    assert set(table.meta["load"]) >= {"loadavg_before", "cpu_share", "wait_share", "busy"}
    again = load_table(table.path)
    assert again.fingerprint == fp
    eager_path = get_table.__globals__["cache_path"](space, target_fingerprint("cpu", 1, "float32", 1, 8), tmp_path,
                                                    {"reference": True, "context_mb": 0.0})
    assert eager_path != table.path


def test_search_refuses_a_table_of_another_runtime(tmp_path):
    from nas.search.run import resolve_table

    space = tiny_space(tmp_path)
    table = synthetic_table(space)
    table.fingerprint.update(runtime="executorch", runtime_version="1.5.1", dtype="int8")
    path = table.save(tmp_path / "et.json")
    cfg = OmegaConf.create({"latency": {"table": str(path), "device": None, "batch_size": 1, "dtype": "int8",
                                        "allow_mismatch": True, "runtime": "eager"}})
    with pytest.raises(LatencyTableError) as err:
        resolve_table(cfg, space, "cpu", 1)
    msg = str(err.value)
    assert "\n" not in msg and "'executorch'" in msg and "latency.runtime" in msg
    cfg.latency.runtime = "executorch"
    assert resolve_table(cfg, space, "cpu", 1).fingerprint["runtime"] == "executorch"
    old = synthetic_table(space).save(tmp_path / "old.json")  # a table from before runtimes is eager's
    cfg.latency.update(table=str(old), dtype=None)
    with pytest.raises(LatencyTableError, match="got 'eager'"):
        resolve_table(cfg, space, "cpu", 1)


@pytest.mark.slow  # 10 s; lowering and agreement are covered by the op and net tests above
def test_export_formats_checked_and_timed(tmp_path):
    backend("onnxruntime")
    from nas.export.runtimes import runtime_formats

    space = tiny_space(tmp_path)
    net = tiny_net(space)
    files, info = runtime_formats(net, space.resolution, ["pt", "onnx", "onnx_int8"], tmp_path, "tiny",
                                  trained=False, val_images=40, time_them=True)
    assert (tmp_path / files["pt"][0]).suffix == ".pt2" and (tmp_path / files["onnx_int8"][0]).is_file()
    assert info["pt"]["max_abs_difference"] <= 1e-4 and info["onnx"]["max_abs_difference"] <= 1e-4
    assert 0 <= info["onnx_int8"]["top1_agreement"] <= 1 and info["onnx_int8"]["images"] == 40
    assert info["onnx"]["ratio_to_eager"] > 0 and info["onnx_int8"]["speedup_over_fp32"] > 0
    loaded = torch.export.load(str(tmp_path / files["pt"][0])).module()
    x = torch.randn(1, 3, space.resolution, space.resolution)
    assert float((loaded(x) - net(x)).abs().max()) <= 1e-4


def test_export_cli_names_an_unknown_format(tmp_path, capsys):
    from nas.export.__main__ import main

    assert main(["model=mobilenetv2_035", "variant=cifar", f"out={tmp_path}", "formats=[pt,tflite]"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "formats" in err and "tflite" in err


@pytest.mark.slow  # 10-20 s: a fresh process imports executorch and lowers one op
def test_executorch_lowers_and_runs_without_native_noise(tmp_path):
    """Importing executorch (torchao's CUDA libraries it cannot load here) and starting its thread pool
    (cpuinfo probing ARM-only files) print a dozen lines a user can do nothing about: kept quiet."""
    import subprocess
    import sys

    backend("executorch")
    code = ("import torch\nfrom nas.runtimes import get_runtime\nrt = get_runtime('executorch')\n"
            "m = torch.nn.Conv2d(3, 4, 3).eval()\nart = rt.export(m, [torch.randn(1, 3, 8, 8)], 'float32', [])\n"
            "run = rt.session(art, 1)\nprint(tuple(run([torch.randn(1, 3, 8, 8)]).shape))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "(1, 4, 6, 6)", done.stderr
    for noise in ("Failed to load", "cpuinfo_utils", "Resetting threadpool", "register_constant"):
        assert noise not in done.stderr, done.stderr
