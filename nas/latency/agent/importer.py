"""``python -m nas.latency import=result.json``: a device agent's result -> a fingerprinted table.

The table has the job's space, runtime, dtype, batch size and resolution, the device's CPU name, the
runtime version that ran there and the threads it used (``torch: null``: the device need not have
it); entries are the ops' figures (ratios to the reference network times its latency on the
device; for a job packed with ``op_timing=net``, what each op's network adds to the base network,
whose latency is ``const_ms``), ``meta.reference`` the reference (so the search's checks know the table's scale), and the
calibration is fitted on the calibration networks timed there. Validation networks, when packed,
are reported as ``validate=N`` reports a table built here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from nas.latency.build import space_info
from nas.latency.calibrate import fit_calibration
from nas.latency.contention import LOAD_SLACK, LoadReport, MAX_REF_SPREAD, MIN_CPU_SHARE, enforce
from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import today
from nas.latency.in_net import BASE_KEY
from nas.latency.metrics import accuracy, format_accuracy
from nas.latency.table import Entry, LatencyTable
from nas.space.base import HEAD, STEM

RESULT = "nas-latency-result"


def _fail(path, key, expected, got=...):
    return LatencyTableError(f"{path}: {key}: expected {expected}" + (f", got {got!r}" if got is not ... else ""))


def read_result(path: str | Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "import", "the result.json a device agent's measure.py wrote")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, "<file>", "JSON", f"a corrupt file ({err})") from None
    if not isinstance(data, dict) or data.get("format") != RESULT:
        raise _fail(path, "format", repr(RESULT), data.get("format") if isinstance(data, dict) else type(data).__name__)
    for key in ("job", "ops", "reference", "calibration", "runtime_version", "threads", "device"):
        if key not in data:
            raise _fail(path, key, "a value (the file is not a complete agent result)")
    missing = [o["key"] for o in data["job"]["ops"] if o["key"] not in data["ops"]]
    if missing:
        raise _fail(path, f"ops['{missing[0]}']", "a figure for every op of the job", "none")
    return data


def load_report(data: Dict[str, Any]) -> LoadReport:
    """The device's load while it ran the job, judged as a build here would be."""
    ld, threads = data.get("load") or {}, data["threads"]
    cores = ld.get("cores") or threads
    r = LoadReport(threads, cores, loadavg_before=ld.get("loadavg_before"), loadavg_after=ld.get("loadavg_after"),
                   cpu_share=ld.get("cpu_share"), reference_spread=ld.get("reference_spread"),
                   timed_seconds=ld.get("seconds") or 0.0)
    if r.loadavg_before is not None and r.loadavg_before > cores - threads + LOAD_SLACK:
        r.reasons.append(f"load average {r.loadavg_before:.2f} on the device's {cores} cores before timing")
    if r.cpu_share is not None and threads == 1 and r.cpu_share < MIN_CPU_SHARE:
        r.reasons.append(f"CPU time only {r.cpu_share:.0%} of wall time while timing")
    if r.reference_spread is not None and r.reference_spread > MAX_REF_SPREAD:
        r.reasons.append(f"the reference network's blocks spread by {r.reference_spread:.0%}")
    r.busy = bool(r.reasons)
    return r


def result_table(path: str | Path, allow_busy: Optional[bool] = None):
    """``(table, space, data)`` for an agent's result file."""
    from nas.space import load_space

    data = read_result(path)
    job = data["job"]
    space = load_space(job["space_args"]["name"], variant=job["space_args"]["variant"],
                       width_mult=job["space_args"]["width_mult"], resolution=job["space_args"]["resolution"],
                       num_classes=job["space_args"]["num_classes"])
    report = enforce(load_report(data), allow_busy, f"{path}: the device's run")
    ops = {o["key"]: o for o in job["ops"]}
    over = {k: float(v["ms"]) for k, v in (data.get("overhead") or {}).items()}  # nas.latency.overhead

    def call(k):
        shape = ops[k]["inputs"][0]
        return over.get("x".join(str(v) for v in shape), 0.0)

    in_net = job.get("op_timing") == "net"  # an op's figure is its network's: what it adds is the excess over the base
    base_ms = float(data["ops"][BASE_KEY]["ms"]) if in_net else 0.0
    entries = {k: Entry(round(max(0.0, float(v["ms"]) - (base_ms if in_net else call(k))), 6), params=ops[k].get("params"),
                        act=ops[k].get("act"), runs=int(v["runs"])) for k, v in data["ops"].items()
               if k in ops and k != BASE_KEY}
    entries.update({z["key"]: Entry(0.0, params=z.get("params"), act=z.get("act")) for z in job.get("zero_ops", [])})
    fp = {"device": "cpu", "device_name": data["device"].get("cpu"), "threads": data["threads"], "torch": None,
          "dtype": job["dtype"], "batch_size": job["batch_size"], "resolution": job["space_args"]["resolution"],
          "date": data.get("date") or today(), "runtime": job["runtime"], "runtime_version": data["runtime_version"]}
    meta = {"source": f"device agent: {Path(path).name}", "space": space_info(space), "device": data["device"],
            "reference": {"space": space.name, "arch": job["reference"]["arch"], "ms": round(data["reference"]["ms"], 6),
                          "blocks": data["reference"].get("blocks")},
            "call_overhead_ms": {k: round(v, 6) for k, v in over.items()}, "load": report.as_meta(), "passes": data.get("passes"),
            "net_passes": data.get("net_passes"), "context_mb": job["context_mb"],
            "imported": today()}
    table = LatencyTable(fp, entries, meta=meta)
    if in_net:
        table.const_ms, table.const_covers = round(base_ms, 6), [STEM, HEAD]
        table.meta.update(op_timing="net", base_ms=round(base_ms, 6))
    if len(data["calibration"]) >= 3:
        archs = [space.decode(c["arch"]) for c in job["calibration"]]
        table.calibration = fit_calibration(table, space, archs, data["calibration"])
    return table, space, data


def default_name(table: LatencyTable, space) -> str:
    fp = table.fingerprint
    dev = re.sub(r"[^0-9A-Za-z]+", "-", str(fp["device_name"])).strip("-")[:40] or "device"
    return (f"agent-{space.name}-{space.variant}-r{space.resolution}-{fp['runtime']}-{fp['dtype']}-"
            f"t{fp['threads']}-{dev}.json")


def import_result(path: str | Path, cfg, out_dir=None) -> Dict[str, Any]:
    table, space, data = result_table(path, cfg.allow_busy or None)
    dest = Path(cfg.table) if cfg.table else Path(cfg.cache_dir) / default_name(table, space)
    table.save(dest)
    print(f"{table!r}")
    print(f"table: {dest}  ({table.fingerprint['runtime']} {table.fingerprint['runtime_version']} on "
          f"{table.fingerprint['device_name']!r}; use it with latency.table={dest} latency.runtime="
          f"{table.fingerprint['runtime']})")
    out: Dict[str, Any] = {"table": str(dest)}
    c = table.calibration
    if c:
        print(f"calibration ({c.model}) on {c.n_archs} archs: leave-one-out MAPE {c.loo_mape:.2f}% (op sum "
              f"{c.raw_mape:.2f}%)")
    if data.get("validation"):
        archs = [space.decode(v["arch"]) for v in data["job"]["validation"]]
        measured = np.asarray(data["validation"], dtype=float)
        out["validation"] = {"raw": accuracy(table.predict_many(space, archs, calibrated=False), measured)}
        print(format_accuracy("raw op sum", out["validation"]["raw"]))
        if c:
            out["validation"]["calibrated"] = accuracy(table.predict_many(space, archs), measured)
            print(format_accuracy("calibrated", out["validation"]["calibrated"]))
    return out
