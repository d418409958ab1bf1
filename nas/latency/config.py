"""The schema of ``python -m nas.latency`` (values in ``conf/latency.yaml``; groups ``space`` and
``device`` shared with the other apps, see ``nas.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore

from nas.checks import ranged
from nas.config import DeviceConf, SpaceConf, register_shared


@dataclass
class LatencyAppConf:
    space: SpaceConf = field(default_factory=SpaceConf)
    device: DeviceConf = field(default_factory=DeviceConf)
    resolution: Optional[int] = ranged(None, ge=8)  # overrides space.resolution
    threads: Optional[int] = ranged(None, ge=1)  # overrides device.threads; null: torch's current count, pinned and recorded
    batch_size: int = ranged(1, ge=1)
    dtype: str = "float32"  # float32 | float16 | bfloat16 (eager); float32 | int8 (other runtimes)
    runtime: str = "eager"  # eager | executorch | onnxruntime | openvino (nas.runtimes): where ops and nets are timed
    allow_busy: bool = False  # time even when the machine is busy (warns loudly, records the load)
    busy_wait: float = ranged(120.0, ge=0)  # seconds to wait for a quieter window before refusing
    import_result: Optional[str] = None  # a device agent's result.json -> a table (`import=result.json` works too)
    cache_dir: str = "outputs/latency_tables"
    rebuild: bool = False  # measure again even if a matching cached table exists
    min_run_time: float = ranged(0.02, gt=0) # seconds of timed runs per op and sweep
    passes: int = ranged(3, ge=1) # sweeps over all ops; an item's figure is the median over its sweeps
    reference: bool = True  # time everything in alternation with a fixed reference network (cancels drift)
    context_mb: float = ranged(16.0, ge=0) # time ops round-robin over copies holding this many MB of weights (0: hot caches)
    op_timing: Optional[str] = None  # program (each op timed alone) | net (inside a network) | fit (fitted on
    #                                  fit_nets whole networks, nas.latency.fit_entries); null: the runtime's default
    #                                  (fit for onnxruntime and openvino, program for eager and executorch)
    fit_nets: int = ranged(300, ge=8)  # op_timing=fit: random networks timed whole to fit the op costs on
    calibrate: int = ranged(24, ge=3, allowed=(0,)) # random archs timed end to end to fit the calibration (0: none)
    validate: int = ranged(0, ge=2, allowed=(0,)) # N: time N more random archs end to end and report the table's accuracy
    net_passes: int = ranged(9, ge=1) # sweeps over whole networks (calibration, validation, op_timing=net), each on a fresh instance / session
    net_min_run_time: float = ranged(0.05, gt=0) # seconds of timed runs per network and sweep (validation)
    anchors: int = ranged(8, ge=0)  # calibration networks timed beside validated networks to correct the run's scale (0: off)
    seed: int = ranged(0, ge=0, lt=2**32)
    progress: bool = True
    table: Optional[str] = None  # use this table file instead of building one (e.g. from another device)
    allow_mismatch: bool = False  # accept a table whose fingerprint differs from the target
    template: Optional[str] = None  # write a table skeleton with every key the space needs here, then stop
    import_hwnasbench: Optional[str] = None  # raspi4 | pixel3 | eyeriss | fpga | all: import into cache_dir
    predictor: Optional[str] = None  # hwnasbench: fit the whole-network predictor on HELP's data, report
    train_frac: float = ranged(0.2, gt=0, lt=1) # share of archs the predictor trains on
    data_dir: Optional[str] = None  # HW-NAS-Bench data folder (default: ../shared/datasets/hw-nas-bench-fbnet)


def register(cs: Optional[ConfigStore] = None) -> None:
    cs = cs or ConfigStore.instance()
    register_shared(cs)
    cs.store(name="latency_schema", node=LatencyAppConf)
