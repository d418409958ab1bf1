"""Structured configs of ``python -m nas.search`` (registered in Hydra's ConfigStore; YAML under conf/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from nas.checks import ranged
from nas.config import DataConf, DeviceConf, SpaceConf, register_shared
from nas.strategies.fbnet import DERIVE_RULES, FBNetOptions
from nas.supernet.training import SupernetOptions


@dataclass
class LatencyConf:
    table: Optional[str] = None  # a latency table JSON to use instead of building / reusing the cached one,
    #                              or a registered latency source (benchmark: the benchmark file's latencies)
    device: Optional[str] = None  # device the table is measured on; default: device.type
    target_ms: Optional[float] = ranged(None, gt=0)  # latency target; null: FBNet's alpha * log(LAT)^beta objective
    constraint: str = "soft"  # soft | hard (controllers: soft -0.07/-0.07 exponents; hard: infeasible archs get
    #                           reward 0 and strategies propose feasible archs only; FBNet: penalty x10 when hard)
    penalty: float = ranged(2.0, ge=0)  # FBNet with a target: CE + penalty * relu(LAT / target - 1)
    calibrated: bool = True  # use the table's calibration
    allow_mismatch: bool = False  # accept a table whose fingerprint differs from this search's target
    batch_size: int = ranged(1, ge=1)
    dtype: str = "float32"
    threads: Optional[int] = ranged(None, ge=1) # threads the table is measured with; default: device.threads
    cache_dir: str = "outputs/latency_tables"
    rebuild: bool = False
    measure: bool = True  # time the found archs end to end on the device
    meet_target: int = ranged(2, ge=0)  # with a target (FBNet's derive=target): times the found arch on the device
    #                                   and, unless it measures within 2.5% of the target, re-derives it for the
    #                                   table's error there, up to this many times (the arch measured closest is
    #                                   kept; nas.strategies.job.SearchJob.meet_target); 0: the table alone
    anchors: int = ranged(8, ge=0)  # calibration networks timed beside the found archs to correct the run's scale
    #                                (nas.latency.measure.measure_archs; 0: off)
    runtime: str = "eager"  # eager | executorch | onnxruntime | openvino: the table's runtime (a table of another is refused)
    allow_busy: bool = False  # build / measure even on a busy machine (warns loudly, records the load)
    busy_wait: float = ranged(120.0, ge=0)  # seconds to wait for a quieter window before refusing
    op_timing: Optional[str] = None  # a built table's ops: program | net (nas.latency.in_net) | fit (fit_nets whole
    #                                  networks, nas.latency.fit_entries); null: the runtime's default
    #                                  (fit for onnxruntime and openvino, program for eager and executorch)
    fit_nets: int = ranged(300, ge=8)  # op_timing=fit: random networks timed whole to fit the op costs on


@dataclass
class FBNetMethodConf(FBNetOptions):
    """FBNet's options (see ``nas.strategies.fbnet.FBNetOptions``) under ``method=fbnet``."""

    name: str = "fbnet"


@dataclass
class ControllerMethodConf:
    """A controller (``nas.strategies``) that samples archs scored by the evaluator."""

    name: str = "mnasnet"  # mnasnet | evolution | optuna | random
    default_space: Optional[str] = None  # the space this method runs on when space= is not given
    budget: int = ranged(100, ge=1) # evaluated architectures
    options: Dict[str, Any] = field(default_factory=dict)  # the strategy's own options
    alpha: Optional[float] = ranged(None, le=0)  # reward exponents (<= 0); null: latency.constraint's (soft
    #                                -0.07/-0.07, hard 0/-inf; 0/0: reward = accuracy, unconstrained)
    beta: Optional[float] = ranged(None, le=0)
    storage: Optional[str] = None  # a study shared by workers: an RDB URL or journal:<file> (docs/distributed.md)
    measure_each: bool = False  # time every sampled arch on the device instead of the table
    checkpoint_every: int = ranged(10, ge=1)


@dataclass
class SupernetConf(SupernetOptions):
    """How supernets are built and trained (``nas.supernet.training.SupernetOptions``): the ``supernet``
    section, read by the oneshot evaluator and by FBNet's hard-mode warm-up (one cached artefact)."""


@dataclass
class BenchmarkConf:
    """The tabular benchmark of ``evaluator=benchmark`` and ``latency.table=benchmark`` (NAS-Bench-201)."""

    path: Optional[str] = None  # nb201_hw.npz or its folder; null: $NAS_NB201_DIR or ../shared/datasets/...
    dataset: Optional[str] = None  # cifar10 | cifar100 | imagenet16_120; null: the space's variant


@dataclass
class EvaluatorConf:
    name: str = "oneshot"  # oneshot (supernet: the `supernet` section, cached) | proxy (train each child) | zerocost
    #                        | benchmark (tabular benchmark's test accuracy: benchmark.path, benchmark.dataset)
    epochs: int = ranged(5, ge=1)  # proxy: per-child epochs (the oneshot supernet's training is the `supernet` section's)
    batch_size: int = ranged(64, ge=1)
    lr: float = ranged(0.1, gt=0)
    weight_decay: float = ranged(5e-4, ge=0)
    label_smoothing: float = ranged(0.0, ge=0, lt=1)
    max_steps_per_epoch: Optional[int] = ranged(None, ge=1)
    proxy: str = "nwot"  # zerocost: nwot | synflow | params | macs (nas.zerocost)
    repeats: int = ranged(1, ge=1) # zerocost: scores averaged over this many batches / initialisations


@dataclass
class SearchConf:
    method: Any = MISSING
    space: SpaceConf = MISSING
    data: DataConf = MISSING
    device: DeviceConf = MISSING
    latency: LatencyConf = MISSING
    evaluator: EvaluatorConf = MISSING
    supernet: SupernetConf = MISSING
    benchmark: BenchmarkConf = MISSING
    seed: int = ranged(0, ge=0, lt=2**32)
    resume: Optional[str] = None  # a run directory to continue from its checkpoint
    out_dir: Optional[str] = None  # default: Hydra's run directory


METHOD_SCHEMAS = {"fbnet": FBNetMethodConf, "controller": ControllerMethodConf}
CONSTRAINTS = ("soft", "hard")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda")
DERIVE = DERIVE_RULES


def check_search_config(cfg) -> None:
    """Every value of a resolved search config a user can get wrong, checked before anything is read or
    written: ranges declared beside the schema fields (``nas.checks``), names looked up in their
    registries, and the options that must go together. Raises a :class:`~nas.errors.NasError`."""
    from nas.checks import check_ranges, one_of, require
    from nas.data import DATASETS
    from nas.distributed import AMP_MODES
    from nas.evaluators import EVALUATORS
    from nas.runtimes import DTYPES as RUNTIME_DTYPES, EAGER, RUNTIMES
    from nas.strategies import STRATEGIES

    check_ranges(cfg)
    STRATEGIES.get(cfg.method.name)  # unknown names list the known ones
    EVALUATORS.get(cfg.evaluator.name)
    if cfg.data.name not in DATASETS:
        from nas.data import DataError

        raise DataError(DATASETS.unknown_message(cfg.data.name))
    one_of(cfg.device.type.split(":")[0], DEVICES, "device.type")
    one_of(cfg.latency.constraint, CONSTRAINTS, "latency.constraint")
    one_of(cfg.device.amp, AMP_MODES, "device.amp")
    one_of(cfg.latency.runtime, RUNTIMES.names(), "latency.runtime")
    one_of(cfg.latency.dtype, DTYPES if cfg.latency.runtime == EAGER else RUNTIME_DTYPES, "latency.dtype")
    if cfg.latency.get("op_timing") is not None:
        from nas.latency.in_net import OP_TIMINGS

        one_of(cfg.latency.op_timing, OP_TIMINGS, "latency.op_timing")
    # space.variant is checked by the space loader against the space file's own variants
    if cfg.evaluator.name == "zerocost":
        from nas.zerocost import PROXIES

        one_of(cfg.evaluator.proxy, list(PROXIES), "evaluator.proxy")
    method = cfg.method
    if "warmup_epochs" in method and "epochs" in method:  # FBNet's options
        require(method.warmup_epochs < method.epochs, "method.warmup_epochs",
                f"fewer than method.epochs ({method.epochs}): the architecture trains after the warm-up",
                method.warmup_epochs)
    if "derive" in method:
        one_of(method.derive, DERIVE, "method.derive")
        require(method.derive != "target" or cfg.latency.target_ms is not None, "method.derive",
                "auto, argmax or sampled without a latency target (method.derive=target needs latency.target_ms)",
                method.derive)
    if "mode" in method:
        one_of(method.mode, ("hard", "soft"), "method.mode")


def register_configs() -> None:
    cs = ConfigStore.instance()
    register_shared(cs)
    cs.store(name="search_schema", node=SearchConf)
    cs.store(group="latency", name="schema", node=LatencyConf)
    cs.store(group="evaluator", name="schema", node=EvaluatorConf)
    cs.store(group="supernet", name="schema", node=SupernetConf)
    cs.store(group="benchmark", name="schema", node=BenchmarkConf)
    for name, schema in METHOD_SCHEMAS.items():
        cs.store(group="method", name=f"{name}_schema", node=schema)
