"""Stand-alone latency job: times the programs of this folder on this device, writes result.json.

Written by ``python -m nas.latency.agent pack``; needs only the job's runtime and numpy (ExecuTorch's
Python runtime brings torch; ONNX Runtime and OpenVINO do not need it), not the ``nas`` toolkit:

    python measure.py [--threads N] [--out result.json] [--passes P] [--min-run-time S] [--quick]

Protocol (as ``nas.latency.measure`` times tables at home): every program runs in blocks that
alternate with equally long blocks of the reference network; an item's figure is the median ratio
of its blocks to the mean of the reference blocks on either side, times the reference's median
block latency, median over ``passes`` sweeps (each in another order; whole networks over ``net_passes``),
each item loaded afresh per sweep, the reference reloaded every ``RENEW_SECONDS`` (a runtime session keeps
its own speed for life: ``nas.latency.measure``). Ops run round-robin over
copies of their program holding ``context_mb`` MB of weights (as inside a network). The load average,
CPU time against wall time and the reference's spread are recorded; a busy machine is reported.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCK_SECONDS = 0.004
RENEW_SECONDS = 2.0
MAX_COPIES = 64


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def loadavg():
    try:
        return round(os.getloadavg()[0], 3)
    except (OSError, AttributeError):
        return None


class OnnxRuntime:
    def __init__(self, threads):
        import onnxruntime as ort
        self.ort, self.threads, self.version = ort, threads, ort.__version__

    def load(self, path, names):
        so = self.ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = self.threads, 1
        so.log_severity_level = 3
        sess = self.ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        return lambda xs: sess.run(None, dict(zip(names, xs)))[0]


class OpenVino:
    def __init__(self, threads):
        import openvino as ov
        self.core, self.threads, self.version = ov.Core(), threads, ov.get_version().split("-")[0]

    def load(self, path, names):
        compiled = self.core.compile_model(self.core.read_model(path), "CPU", {
            "INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
        request = compiled.create_infer_request()

        def run(xs):
            request.infer(list(xs), share_inputs=True)
            return request.get_output_tensor(0).data
        return run


class ExecuTorch:
    def __init__(self, threads):
        import torch  # ExecuTorch's Python runtime takes torch tensors
        import executorch.extension.pybindings.portable_lib as lib
        from executorch.runtime import Runtime
        from importlib.metadata import version
        lib._unsafe_reset_threadpool(threads)
        self.torch, self.rt, self.version = torch, Runtime.get(), version("executorch")
        torch.set_num_threads(threads)

    def load(self, path, names):
        method = self.rt.load_program(path).load_method("forward")
        torch = self.torch
        return lambda xs: method.execute(tuple(torch.from_numpy(x) for x in xs))[0]


RUNTIMES = {"onnxruntime": OnnxRuntime, "openvino": OpenVino, "executorch": ExecuTorch}


class Blocks:
    def __init__(self, fn, inputs):
        self.fn, self.inputs = fn, inputs

    def __call__(self, number):
        fn, xs = self.fn, self.inputs
        t0 = time.perf_counter()
        for _ in range(number):
            fn(xs)
        return (time.perf_counter() - t0) / number

    def runs_for(self, seconds):
        return max(1, int(round(seconds / max(self(1), 1e-7))))


def cycle(fns):
    state = [0]

    def run(xs):
        state[0] = (state[0] + 1) % len(fns)
        return fns[state[0]](xs)
    return run


def inputs_of(item, batch, rng):
    return [rng.standard_normal((batch, *shape)).astype(np.float32) for shape in item["inputs"]]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the job's)")
    ap.add_argument("--out", default=os.path.join(HERE, "result.json"))
    ap.add_argument("--passes", type=int, default=None,
                    help="sweeps over every item (default: the job's passes for ops, net_passes for networks)")
    ap.add_argument("--min-run-time", type=float, default=None, help="seconds of timed runs per item and pass")
    ap.add_argument("--quick", action="store_true", help="one short pass (to check the job runs)")
    args = ap.parse_args(argv)
    with open(os.path.join(HERE, "job.json")) as f:
        job = json.load(f)
    threads = args.threads or job["threads"]
    passes = 1 if args.quick else (args.passes or job["passes"])
    min_run = 0.002 if args.quick else (args.min_run_time or job["min_run_time"])
    net_min_run = 0.004 if args.quick else (args.min_run_time or job["net_min_run_time"])
    rt = RUNTIMES[job["runtime"]](threads)
    rng = np.random.default_rng(0)
    batch = job["batch_size"]
    load_before, wall0, cpu0 = loadavg(), time.perf_counter(), time.process_time()

    ref_item = job["reference"]
    ref_x = inputs_of(ref_item, batch, rng)
    ref = {}

    def renew_reference():
        fn = rt.load(os.path.join(HERE, ref_item["file"]), ref_item["names"])
        for _ in range(3):
            fn(ref_x)
        ref.update(blocks=Blocks(fn, ref_x), since=time.perf_counter())

    renew_reference()
    ref_number = ref["blocks"].runs_for(BLOCK_SECONDS)
    ref_seconds = max(BLOCK_SECONDS, ref["blocks"](ref_number) * ref_number)
    ref_samples = []

    def ref_block():
        t = ref["blocks"](ref_number)
        ref_samples.append(t)
        return t

    def time_item(item, min_run_time):
        path = os.path.join(HERE, item["file"])
        fn = rt.load(path, item["names"])
        xs = inputs_of(item, batch, rng)
        k = 1
        if item.get("weight_bytes") and job["context_mb"] > 0:
            k = int(min(MAX_COPIES, max(1, -(-job["context_mb"] * 2**20 // item["weight_bytes"]))))
        runner = cycle([fn] + [rt.load(path, item["names"]) for _ in range(k - 1)]) if k > 1 else fn
        for _ in range(2 * k):
            runner(xs)
        blocks = Blocks(runner, xs)
        number = blocks.runs_for(ref_seconds)
        ratios, spent, before = [], 0.0, ref_block()
        while len(ratios) < 3 or spent < min_run_time:
            t = blocks(number)
            after = ref_block()
            ratios.append(2 * t / (before + after))
            spent += t * number
            before = after
        return statistics.median(ratios), len(ratios) * number

    net_passes = 1 if args.quick else (args.passes or job.get("net_passes", passes))
    ops_passes = net_passes if job.get("op_timing") == "net" else passes  # op_timing=net: its ops are networks
    groups = [("ops", job["ops"], min_run, ops_passes), ("overhead", job.get("overhead", []), min_run, passes),
              ("calibration", job["calibration"], net_min_run, net_passes),
              ("validation", job.get("validation", []), net_min_run, net_passes)]
    found = {g: [[] for _ in items] for g, items, _, _ in groups}
    todo = [(g, i, mrt, n) for g, items, mrt, n in groups for i in range(len(items))]
    total = sum(n for *_, n in todo)
    done = 0
    for p in range(max(n for *_, n in todo)):
        order = [t for t in todo if t[3] > p]
        if p:
            random.Random(p).shuffle(order)
        for g, i, mrt, _ in order:
            if time.perf_counter() - ref["since"] > RENEW_SECONDS:
                renew_reference()
            found[g][i].append(time_item(job[g][i], mrt))
            done += 1
            if sys.stderr.isatty() or done % 10 == 0 or done == total:
                print(f"{done}/{total} items timed", end="\r" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    ref_ms = statistics.median(ref_samples) * 1e3

    def figure(runs):
        return {"ratio": statistics.median(r for r, _ in runs), "runs": sum(n for _, n in runs),
                "ms": statistics.median(r for r, _ in runs) * ref_ms}

    steps = [b / a for a, b in zip(ref_samples, ref_samples[1:]) if a > 0]
    spread = None
    if len(steps) >= 4:
        q = statistics.quantiles(steps, n=4)
        spread = (q[2] - q[0]) / statistics.median(steps)
    result = {
        "format": "nas-latency-result", "version": 1, "job": job,
        "device": {"cpu": cpu_name(), "machine": platform.machine(), "system": platform.system(),
                   "python": platform.python_version()},
        "runtime": job["runtime"], "runtime_version": rt.version, "threads": threads, "passes": passes,
        "net_passes": net_passes,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
        "reference": {"ms": ref_ms, "blocks": len(ref_samples)},
        "ops": {item["key"]: figure(found["ops"][i]) for i, item in enumerate(job["ops"])},
        "overhead": {item["key"]: figure(found["overhead"][i]) for i, item in enumerate(job.get("overhead", []))},
        "calibration": [figure(r)["ms"] for r in found["calibration"]],
        "validation": [figure(r)["ms"] for r in found["validation"]],
        "load": {"loadavg_before": load_before, "loadavg_after": loadavg(), "cpu_share": cpu / wall / threads,
                 "reference_spread": spread, "seconds": wall,
                 "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()},
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.out)
    print(f"{len(job['ops'])} ops, {len(job['calibration'])} calibration and {len(job['validation'])} validation "
          f"networks timed in {job['runtime']} {rt.version} ({threads} threads, {wall:.0f} s); reference "
          f"{ref_ms:.3f} ms; result: {args.out}")


if __name__ == "__main__":
    main()
