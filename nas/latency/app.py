"""``python -m nas.latency``: build (or reuse) the latency table of a space on this device, calibrate
and validate it end to end, write a template for tables from other devices, import HW-NAS-Bench's
tables, evaluate the whole-network predictor on HELP's devices.

    python -m nas.latency space=fbnet device=cpu threads=1 validate=100
    python -m nas.latency space=mnasnet space.variant=imagenet batch_size=8 calibrate=0
    python -m nas.latency table=my_phone.json device=cpu allow_mismatch=true     # check a brought table
    python -m nas.latency template=my_phone.json                                 # keys to measure there
    python -m nas.latency import_hwnasbench=all
    python -m nas.latency predictor=hwnasbench train_frac=0.2
    python -m nas.latency space=fbnet runtime=executorch dtype=int8 validate=100  # in a deployment runtime
    python -m nas.latency import=job/result.json                                  # a device agent's result

``main`` is a thin Hydra wrapper over :func:`run`, which tests call directly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
from omegaconf import DictConfig

from nas.cli import hydra_app
from nas.cli import run as run_app
from nas.io import atomic_write_text, check_writable_dir
from nas.latency.build import get_table, space_info
from nas.latency.calibrate import conform_calibration
from nas.latency.config import register
from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import FIELDS, target_fingerprint
from nas.latency.ops import build_use, op_key, space_uses, use_stats
from nas.latency.table import FORMAT, VERSION, load_table
from nas.space import load_space


def load_cfg_space(cfg):
    return load_space(cfg.space.name, variant=cfg.space.variant, width_mult=cfg.space.width_mult,
                      resolution=cfg.resolution or cfg.space.resolution)


def write_template(space, path: str | Path, batch_size: int = 1) -> Path:
    """A table skeleton for ``space``: every key it needs with ``ms: null`` (and the op's weights and
    activations), for measuring on another device; see docs/latency_tables.md."""
    import torch

    entries = {}
    for use in space_uses(space):
        with torch.device("meta"):
            module, _ = build_use(space, use)
        entries[op_key(use)] = {"ms": None, **use_stats(module, use, batch_size)}
    fp = {k: None for k in FIELDS}
    fp.update(batch_size=batch_size, resolution=space.resolution)
    data = {"format": FORMAT, "version": VERSION, "fingerprint": fp,
            "meta": {"source": "template: fill in ms (and the fingerprint) on the target", "space": space_info(space)},
            "const_ms": 0.0, "const_covers": [], "calibration": None, "entries": dict(sorted(entries.items()))}
    return atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def run_import(cfg) -> Dict[str, Any]:
    from nas.latency.hwnasbench import (
        ADDITIVE,
        archs_of,
        hwnasbench_space,
        import_table,
        load_help,
    )

    devices = list(ADDITIVE) if cfg.import_hwnasbench == "all" else [cfg.import_hwnasbench]
    codes, lat = load_help(cfg.data_dir)
    space = hwnasbench_space()
    archs = archs_of(space, codes)
    out = {}
    for d in devices:
        table = import_table(d, cfg.data_dir)
        err = float(np.max(np.abs(table.predict_many(space, archs) / lat[d] - 1)))
        path = table.save(Path(cfg.cache_dir) / f"hwnasbench-fbnet-cifar-{d}.json")
        print(f"{d}: {path}  (max relative error over the {len(archs)} published latencies: {err:.1e})")
        out[d] = {"path": str(path), "max_rel_error": err}
    return out


def run(cfg, out_dir: Optional[str | Path] = None) -> Dict[str, Any]:
    """Do what ``cfg`` (a :class:`~nas.latency.config.LatencyAppConf`) asks; returns what it printed, as data."""
    from nas.checks import check_ranges, one_of
    from nas.runtimes import DTYPES, EAGER, RUNTIMES

    check_ranges(cfg)  # every numeric option in its range before anything is measured or written
    one_of(cfg.runtime, RUNTIMES.names(), "runtime")
    one_of(cfg.dtype, ("float32", "float16", "bfloat16") if cfg.runtime == EAGER else DTYPES, "dtype")
    one_of(cfg.device.type.split(":")[0], ("cpu", "cuda"), "device.type")
    if cfg.op_timing is not None:
        from nas.latency.in_net import OP_TIMINGS

        one_of(cfg.op_timing, OP_TIMINGS, "op_timing")
    check_writable_dir(cfg.cache_dir, "cache_dir")
    if cfg.predictor:
        from nas.latency.hwnasbench import evaluate_predictor, format_rows

        if cfg.predictor != "hwnasbench":
            raise LatencyTableError(f"predictor: expected 'hwnasbench' (HELP's FBNet-space devices), got "
                                    f"{cfg.predictor!r}")
        rows = evaluate_predictor(train_frac=cfg.train_frac, seed=cfg.seed, data_dir=cfg.data_dir)
        print(f"whole-network predictor (robust additive per-op + CV-gated monotone correction), trained on "
              f"{cfg.train_frac:.0%} of fbnet_help.npz's archs, tested on the rest:")
        print(format_rows(rows))
        return {"predictor": rows}
    if cfg.import_hwnasbench:
        return {"imported": run_import(cfg)}
    if cfg.import_result:
        from nas.latency.agent.importer import import_result

        return import_result(cfg.import_result, cfg, out_dir)
    space = load_cfg_space(cfg)
    threads = cfg.threads if cfg.threads is not None else cfg.device.threads
    if cfg.template:
        path = write_template(space, cfg.template, cfg.batch_size)
        print(f"template with {len(json.loads(path.read_text())['entries'])} keys: {path}")
        return {"template": str(path)}
    t0 = time.perf_counter()
    if cfg.table:
        table = load_table(cfg.table)
        expected = target_fingerprint(cfg.device.type, threads, cfg.dtype, cfg.batch_size, space.resolution,
                                      cfg.runtime)
        expected.pop("runtime_version", None)  # a table of another version of the runtime is checked below
        table.check_fingerprint(expected, cfg.allow_mismatch)
        missing = table.missing(space)
        if missing:
            raise LatencyTableError(f"{table.where}: {len(missing)} ops of space '{space.name}' have no entry, "
                                    f"e.g. '{op_key(missing[0])}'")
        conform_calibration(table, space)  # in memory; the named file is left as it is
    else:
        table = get_table(space, cfg.device.type, cfg.batch_size, cfg.dtype, threads, cfg.cache_dir, cfg.rebuild,
                          cfg.progress, calibrate=cfg.calibrate, min_run_time=cfg.min_run_time, passes=cfg.passes,
                          seed=cfg.seed, reference=cfg.reference, context_mb=cfg.context_mb, runtime=cfg.runtime,
                          allow_busy=cfg.allow_busy, busy_wait=cfg.busy_wait, op_timing=cfg.op_timing,
                          net_passes=cfg.net_passes, fit_nets=cfg.fit_nets)
    seconds = time.perf_counter() - t0
    lo, hi = table.bounds(space, calibrated=False)
    print(f"{table!r}")
    print(f"table: {table.path}")
    m = table.meta
    load = m.get("load") or {}
    if load:
        print(f"load while timing: average {load.get('loadavg_before')} before / {load.get('loadavg_after')} after on "
              f"{load.get('cores')} cores, run-queue wait {load.get('wait_share')}, CPU share {load.get('cpu_share')}, "
              f"other processes {load.get('others_timing')} cores, "
              f"reference spread {load.get('reference_spread')}" + (" -- BUSY (allow_busy)" if load.get("busy") else ""))
    if "ops_seconds" in m:
        how = {"net": f"timed inside {m.get('ops_measured')} networks, as what they add to the base network "
                      f"({m.get('base_ms', 0):.3f} ms)",
               "fit": f"fitted on {m.get('fit_nets')} networks timed whole (fit MAPE {m.get('fit_mape')}%)"}
        print(f"ops: {len(table.entries)} distinct (op, shape) entries, {how.get(m.get('op_timing'), 'timed')} "
              f"in {m['ops_seconds']} s"
              + (f"; calibration on {table.calibration.n_archs} archs in {m['calibration_seconds']} s"
                 if table.calibration and "calibration_seconds" in m else "")
              + f" (this run: {seconds:.1f} s)")
    print(f"latency range of {space.name}: {lo:.3f} .. {hi:.3f} ms (op sum)")
    result: Dict[str, Any] = {"table": str(table.path), "seconds": seconds, "bounds_raw": (lo, hi)}
    c = table.calibration
    if c:
        clo, chi = table.bounds(space)
        print(f"calibration ({c.model}): {' + '.join(f'{k:.4g}*{n}' for n, k in zip(c.features, c.coef))} + "
              f"{c.intercept_ms:.4g} ms on {c.n_archs} archs (leave-one-out MAPE {c.loo_mape:.2f}%, op sum "
              f"{c.raw_mape:.2f}%); calibrated range {clo:.3f} .. {chi:.3f} ms")
        result["bounds"] = (clo, chi)
    if cfg.validate:
        from nas.latency.validate import validate_table, write_report

        v = validate_table(table, space, cfg.validate, cfg.seed, allow_mismatch=cfg.allow_mismatch,
                           passes=cfg.net_passes, min_run_time=cfg.net_min_run_time, progress=cfg.progress,
                           allow_busy=cfg.allow_busy, anchors=cfg.anchors)
        files = write_report(v, out_dir or Path(cfg.cache_dir) / "validation")
        print(v.summary())
        print(f"report: {files['json']}  plot: {files['png']}  tensorboard: {files['tensorboard']}")
        result["validation"] = v
    return result


register()


CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def _import_alias(argv):
    """`import=FILE` (the documented spelling; `import` cannot be a config field name) -> import_result."""
    return [f"import_result={a[len('import='):]}" if a.startswith("import=") else a for a in argv]


@hydra_app("latency", help=__doc__, argv_hook=_import_alias)
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    run(cfg, HydraConfig.get().runtime.output_dir)


def main() -> None:
    run_app(_hydra_main)
