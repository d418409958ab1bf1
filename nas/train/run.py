"""The training job as plain functions (the Hydra app in ``nas.train.__main__`` only wraps these).

``run_train(cfg, out_dir)`` trains an architecture file's child (``arch=``) or a baseline (``model=``)
with the standard recipe of :mod:`nas.loops` (SGD with Nesterov momentum, cosine learning rate,
label smoothing, the dataset's augmentation, seeded batch order) on the dataset's training split,
evaluates on its test split every epoch, checkpoints every epoch (``resume=<run dir>`` continues and
ends exactly where an uninterrupted run ends), and writes into ``out_dir``:

- ``checkpoint.pt``: model, optimizer, scheduler, epoch, best accuracy, history, RNG state (atomic);
- ``weights.pt``: the final state_dict (``python -m nas.export ... weights=<run dir>/weights.pt``);
- ``arch.yaml`` (``arch=`` runs): the arch file with the number of classes actually trained;
- ``result.json``: final and best accuracy, params, MACs, batch-1 latency on the device;
- ``config.yaml`` and ``tb/`` (TensorBoard: train and val loss / accuracy, learning rate per epoch).

``torchrun --nproc-per-node=N -m nas.train ...`` trains data-parallel (``nas.distributed``): DDP,
synchronised BatchNorms, each rank its share of every global batch of ``batch_size``; rank 0 writes
(the checkpoint holds the raw net's state, so a run resumes at any world size) and times the latency.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from nas import distributed as dist
from nas.checks import check_ranges, one_of, require
from nas.data import DATASETS, BatchLoader, ImageData, search_data
from nas.errors import NasError
from nas.io import atomic_torch_save, atomic_write_text, check_writable_dir
from nas.latency.measure import Setting, time_module
from nas.profile import profile
from nas.progress import progress as progress_bar
from nas.results import TrainResult
from nas.seeding import seed_everything
from nas.registry import UnknownNameError
from nas.space import Arch, load_arch
from nas.loops import NonFiniteLoss, Recipe, evaluate, make_optimizer, to_device, train_epoch

log = logging.getLogger("nas.train")

CHECKPOINT, WEIGHTS, RESULT, ARCH = "checkpoint.pt", "weights.pt", "result.json", "arch.yaml"
REFERENCE_BATCH = 128  # cfg.lr is the learning rate at this batch size (linear scaling rule)
DATA_RESOLUTION = {"cifar10": 32, "cifar100": 32, "digits": 32}  # images resized to the net: not listed
LATENCY_REPEATS, LATENCY_RUN_TIME = 3, 0.2  # time_module calls and seconds of timed runs per call
GENERIC_STEMS = ("arch", "best_arch")  # a search's arch file: named after its run directory


class TrainError(NasError):
    """A training job that cannot run as configured (what to train, resume directory, diverged loss)."""

    show_got = str




@dataclass
class NetPlan:
    """What to train, known before the data is loaded: its name, input resolution and a builder."""

    name: str
    kind: str  # arch | model
    resolution: int
    num_classes: int  # the arch file's / the variant's own
    variant: str
    build: Callable[[int], Tuple[nn.Module, Dict[str, Any]]]  # num_classes -> (net, identity)
    arch_file: Optional[str] = None
    model: Optional[str] = None


def run_dir(cfg: DictConfig, default: Path) -> Path:
    """Where a run writes: the resumed run's directory, else ``out_dir``, else Hydra's run directory."""
    return Path(cfg.resume or cfg.out_dir or default)


def plan_net(cfg: DictConfig) -> NetPlan:
    """Check ``arch``/``model``/``variant`` and say what will be trained (raises the package's errors)."""
    if bool(cfg.arch) == bool(cfg.model):
        got = "both" if cfg.arch else "neither"
        raise TrainError("config", "arch / model", "exactly one of arch=<arch file> or model=<baseline name>", got)
    if cfg.arch:
        return _plan_arch(cfg)
    return _plan_model(cfg)


def _plan_arch(cfg: DictConfig) -> NetPlan:
    if cfg.variant is not None:
        raise TrainError("config", "variant", "no variant with arch= (the arch file records its space's settings)",
                         cfg.variant)
    path = Path(cfg.arch)
    arch, space = load_arch(path)  # SpaceError naming the arch file: missing, unreadable, not of its space

    def build(num_classes: int):
        sp = space
        if num_classes != space.num_classes:
            log.info("%s: its space has %d classes, data %s has %d: training with num_classes=%d",
                     path, space.num_classes, cfg.data.name, num_classes, num_classes)
            sp = load_arch(path, num_classes=num_classes)[1]
        trained = Arch(arch.space, dict(arch.choices), {**arch.space_args, "num_classes": num_classes})
        return sp.build(arch), {"kind": "arch", **trained.to_dict()}

    name = f"{path.parent.name}/{path.stem}" if path.stem in GENERIC_STEMS and path.parent.name else path.stem
    return NetPlan(name, "arch", space.resolution, space.num_classes, space.variant, build,
                   arch_file=str(path.resolve()))


def _plan_model(cfg: DictConfig) -> NetPlan:
    from nas.models import MODELS, VARIANTS, create_model, model_resolution

    name = cfg.model
    MODELS.get(name)  # UnknownNameError listing every known model
    variant = cfg.variant or ("cifar" if DATA_RESOLUTION.get(cfg.data.name) == 32 else "imagenet")
    if variant not in VARIANTS:
        raise TrainError("config", "variant", f"one of {', '.join(VARIANTS)}", variant)

    def build(num_classes: int):
        net = create_model(name, num_classes=num_classes, variant=variant)
        return net, {"kind": "model", "model": name, "variant": variant, "num_classes": num_classes}

    return NetPlan(name, "model", model_resolution(name, variant), 10 if variant == "cifar" else 1000, variant,
                   build, model=name)


def train_data(d: DictConfig, resolution: int, seed: int) -> Tuple[ImageData, ImageData]:
    """(train, val): the full training split (or ``limit_train`` of it) and the test split (digits, which
    has none: the ``val_fraction`` held out exactly as ``search_data`` holds it out)."""
    fixed = DATA_RESOLUTION.get(d.name) if d.name != "digits" else None
    if fixed is not None and fixed != resolution:
        raise TrainError(f"data={d.name}", "resolution", f"a net taking {fixed} px inputs (the dataset's images)",
                         f"a net taking {resolution} px (use the cifar variant)")
    sd = search_data(d.name, d.root, resolution=resolution, arch_fraction=0.0, val_fraction=d.val_fraction,
                     limit_train=d.limit_train, limit_val=d.limit_val, download=d.download, url=d.url, md5=d.md5,
                     seed=seed)
    return sd.weight, sd.val


def make_recipe(cfg: DictConfig, augment: bool) -> Recipe:
    for key in ("epochs", "batch_size"):
        if cfg[key] < 1:
            raise TrainError("config", key, "a positive integer", cfg[key])
    if cfg.warmup_epochs < 0:
        raise TrainError("config", "warmup_epochs", "a number >= 0", cfg.warmup_epochs)
    lr = cfg.lr * cfg.batch_size / REFERENCE_BATCH
    return Recipe(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=lr, momentum=cfg.momentum,
                  weight_decay=cfg.weight_decay, label_smoothing=cfg.label_smoothing, augment=augment,
                  warmup_epochs=cfg.warmup_epochs, max_steps_per_epoch=cfg.max_steps_per_epoch,
                  amp=OmegaConf.select(cfg, "device.amp", default="auto"))


def recipe_record(cfg: DictConfig, recipe: Recipe) -> Dict[str, Any]:
    """What a resumed run must share with the run it continues (else the result would differ)."""
    d = cfg.data
    return {"data": d.name, "limit_train": d.limit_train, "limit_val": d.limit_val, "val_fraction": d.val_fraction,
            "seed": cfg.seed, "epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr,
            "momentum": recipe.momentum, "weight_decay": recipe.weight_decay,
            "label_smoothing": recipe.label_smoothing, "augment": recipe.augment,
            "warmup_epochs": recipe.warmup_epochs,
            "max_steps_per_epoch": recipe.max_steps_per_epoch}


def load_checkpoint(out_dir: Path, identity: Dict[str, Any], record: Dict[str, Any]) -> Dict[str, Any]:
    """The checkpoint of the run in ``out_dir``, checked to be of the same net and recipe."""
    path = out_dir / CHECKPOINT
    if not path.is_file():
        raise TrainError(f"resume={out_dir}", CHECKPOINT, "the directory of an earlier nas.train run (no "
                         f"{CHECKPOINT} there)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise TrainError(str(path), "<file>", "a checkpoint that torch.load reads with weights_only=True",
                         f"{type(err).__name__}") from None
    keys = ("net", "recipe", "model", "optimizer", "scheduler", "epoch", "best_val_acc", "history", "rng")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise TrainError(str(path), "<top level>", f"a nas.train checkpoint with keys {', '.join(keys)}")
    theirs = state["net"]
    if theirs != identity:
        got = f"a checkpoint of {describe(theirs)}"
        if describe(theirs) == describe(identity) and isinstance(theirs.get("choices"), dict):
            label = next(k for k in sorted(set(theirs["choices"]) | set(identity["choices"]))
                         if theirs["choices"].get(k) != identity["choices"].get(k))
            got += (f" whose choice {label} is {theirs['choices'].get(label)!r}, "
                    f"not {identity['choices'].get(label)!r}")
        raise TrainError(str(path), "net", f"a checkpoint of the net this run trains, {describe(identity)}", got)
    for key, value in record.items():
        if state["recipe"].get(key) != value:
            raise TrainError(str(path), key, f"{value!r} (this run's value; a resumed run continues the same "
                             "recipe)", f"{state['recipe'].get(key)!r} in the checkpoint")
    return state


def describe(identity: Dict[str, Any]) -> str:
    if identity.get("kind") == "model":
        return f"model {identity['model']} ({identity['variant']}, {identity['num_classes']} classes)"
    args = ", ".join(f"{k}={v}" for k, v in identity.get("space_args", {}).items())
    return f"an arch of space {identity.get('space')!r} ({args})"


def measure_latency(net: nn.Module, resolution: int, device: str, threads: int, name: str) -> Dict[str, Any]:
    """Batch-1 latency on ``device`` (``nas.latency.measure.time_module``, ``LATENCY_REPEATS`` calls):
    the median and the minimum of the calls' medians."""
    s = Setting(device, "float32", 1, threads, LATENCY_RUN_TIME)
    timings = [time_module(net, [(3, resolution, resolution)], s, what=name) for _ in range(LATENCY_REPEATS)]
    medians = [t.median_ms for t in timings]
    return {"device": device, "threads": s.threads, "batch_size": 1, "dtype": "float32",
            "median_ms": statistics.median(medians), "min_ms": min(getattr(t, "min_ms", t.median_ms) for t in timings)}


def run_train(cfg: DictConfig, out_dir: Path) -> TrainResult:
    """Train as ``cfg`` says, write the outputs into ``run_dir(cfg, out_dir)``, return ``result.json``'s content.

    Every user error is raised before anything is written (one of :data:`USER_ERRORS`)."""
    t0 = time.perf_counter()
    check_ranges(cfg)  # every numeric option in its range (nas.checks), before anything is read or written
    require(cfg.warmup_epochs <= cfg.epochs, "warmup_epochs", f"at most epochs ({cfg.epochs})", cfg.warmup_epochs)
    one_of(OmegaConf.select(cfg, "device.amp", default="auto"), dist.AMP_MODES, "device.amp")
    out_dir = run_dir(cfg, out_dir)
    check_writable_dir(out_dir, "resume" if cfg.resume else "out_dir" if cfg.out_dir else "hydra.run.dir")
    device = cfg.device.type
    if device.split(":")[0] not in ("cpu", "cuda") or (device != "cpu" and not torch.cuda.is_available()):
        raise TrainError("config", "device.type", "cpu, or cuda where a CUDA device is available", device)
    device = dist.setup(device, sync_bn=bool(OmegaConf.select(cfg, "device.sync_bn", default=False)))
    # under torchrun: joined the group (this rank's GPU)
    out_dir = dist.broadcast_object(out_dir)  # rank 0's (Hydra's run dirs differ by start time)
    main = dist.is_main()
    for key in ("device.threads", "latency_threads"):
        value = OmegaConf.select(cfg, key)
        if value is not None and value < 1:
            raise TrainError("config", key, "a positive integer or null", value)
    plan = plan_net(cfg)
    d = cfg.data
    if d.name not in DATASETS:
        raise UnknownNameError(DATASETS.unknown_message(d.name))
    augment = cfg.augment if cfg.augment is not None else d.augment
    augment = DATASETS.meta(d.name)["augment"] if augment is None else augment
    recipe = make_recipe(cfg, augment)
    dist.check_divisible(recipe.batch_size)
    if not cfg.resume and (out_dir / CHECKPOINT).exists():
        raise TrainError(str(out_dir), CHECKPOINT, "a new run directory (resume=<dir> continues the run there)",
                         "a directory holding a run")
    train, val = train_data(d, plan.resolution, cfg.seed)

    if cfg.device.threads:
        torch.set_num_threads(cfg.device.threads)
    seed_everything(cfg.seed)
    net, identity = plan.build(train.num_classes)
    record = recipe_record(cfg, recipe)
    state = load_checkpoint(out_dir, identity, record) if cfg.resume else None

    to_device(net, device)
    train_net = dist.prepare(net, device)  # DDP under torchrun (+ SyncBatchNorm: device.sync_bn); net otherwise
    opt, sched = make_optimizer(net, recipe)
    start, best, history, seconds_before = 0, 0.0, [], 0.0
    if state is not None:
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise TrainError(str(out_dir / CHECKPOINT), "model", "weights and optimizer state of this net",
                             str(err).splitlines()[0]) from None
        start, best, history = int(state["epoch"]), float(state["best_val_acc"]), list(state["history"])
        seconds_before = float(state.get("seconds", 0.0))
        torch.set_rng_state(state["rng"])
        if main:
            log.info("resuming %s after epoch %d of %d", out_dir, start, recipe.epochs)

    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(cfg))
        if plan.kind == "arch":
            Arch.from_dict({k: v for k, v in identity.items() if k != "kind"}).save(out_dir / ARCH)
    loader = BatchLoader(train, recipe.batch_size, shuffle=True, augment=recipe.augment, seed=cfg.seed,
                         drop_last=True)
    if main:
        log.info("training %s (%s) on %s: %d train / %d val images, %d classes, %d px, lr %.4g, augment %s%s",
                 plan.name, plan.kind, d.name, len(train), len(val), train.num_classes, plan.resolution, recipe.lr,
                 recipe.augment, f", {dist.world_size()} processes" if dist.is_distributed() else "")
    history = train_epochs(net, loader, val, opt, sched, recipe, start, best, history, identity, record, out_dir,
                           device, seconds_before, t0, train_net=train_net)
    best = max(h["val_acc"] for h in history) if history else 0.0

    dist.revert_sync_batchnorm(net)  # plain BatchNorms for profiling, timing and export
    net.eval().to(memory_format=torch.contiguous_format)  # latency is timed in the format the table uses
    if main:
        atomic_torch_save({k: v.detach().cpu() for k, v in net.state_dict().items()}, out_dir / WEIGHTS)
    size = (1, 3, plan.resolution, plan.resolution)
    p = profile(net, size)
    latency = None
    if cfg.measure_latency and main:  # rank 0 alone: the others would compete for the cores
        threads = cfg.latency_threads or cfg.device.threads or 1
        latency = measure_latency(net, plan.resolution, device, threads, f"{plan.kind} {plan.name}")
    result = TrainResult(name=plan.name, arch_file=plan.arch_file, model=plan.model, variant=plan.variant,
                         data=d.name, num_classes=train.num_classes, epochs=recipe.epochs,
                         val_acc=history[-1]["val_acc"] if history else 0.0, best_val_acc=best,
                         params_m=p.params / 1e6, macs_m=p.macs / 1e6,
                         latency_ms=latency["median_ms"] if latency else None, latency=latency,
                         checkpoint=CHECKPOINT, seconds=round(seconds_before + time.perf_counter() - t0, 1),
                         seed=cfg.seed, history=history)
    if main:
        result.save(out_dir / RESULT)
    return dist.broadcast_object(result)  # rank 0's (with its latency) on every rank


def train_epochs(net, loader, val, opt, sched, recipe: Recipe, start: int, best: float, history: List[Dict],
                 identity, record, out_dir: Path, device: str, seconds_before: float, t0: float,
                 train_net: Optional[nn.Module] = None) -> List[Dict]:
    """Epochs ``start..recipe.epochs-1``: train (``train_net``: ``net`` wrapped for data-parallel training),
    step the schedule, evaluate, log, checkpoint (rank 0 writes)."""
    from torch.utils.tensorboard import SummaryWriter

    main = dist.is_main()
    writer = SummaryWriter(str(out_dir / "tb"), purge_step=start + 1 if start else None) if main else None
    bar = progress_bar(range(start, recipe.epochs), desc="train", unit="epoch", initial=start, total=recipe.epochs,
                       enabled=main)
    try:
        for epoch in bar:
            lr = opt.param_groups[0]["lr"]
            try:
                m = train_epoch(net if train_net is None else train_net, loader, opt, recipe, epoch, device)
            except NonFiniteLoss as err:
                raise TrainError(f"lr={recipe.lr:g}", "loss", "a finite training loss (try a lower lr)",
                                 str(err)) from None
            sched.step()
            v = evaluate(net, val, 256, device)
            best = max(best, v["val_acc"])
            history.append({"epoch": epoch + 1, **m, **v, "lr": lr})
            bar.set_postfix(loss=f"{m['train_loss']:.3f}", val_acc=f"{v['val_acc']:.3f}")
            if not main:
                continue
            for key, value in (("train/loss", m["train_loss"]), ("train/acc", m["train_acc"]),
                               ("val/loss", v["val_loss"]), ("val/acc", v["val_acc"]), ("lr", lr)):
                writer.add_scalar(key, value, epoch + 1)
            writer.flush()
            atomic_torch_save({"net": identity, "recipe": record, "model": net.state_dict(),
                               "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch + 1,
                               "best_val_acc": best, "history": history, "rng": torch.get_rng_state(),
                               "seconds": seconds_before + time.perf_counter() - t0}, out_dir / CHECKPOINT)
            log.info("epoch %d/%d: train loss %.4f acc %.4f, val loss %.4f acc %.4f, lr %.4g", epoch + 1,
                     recipe.epochs, m["train_loss"], m["train_acc"], v["val_loss"], v["val_acc"], lr)
    finally:
        if writer is not None:
            writer.close()
    return history


def format_summary(r: TrainResult, out_dir: Path) -> str:
    what = f"arch {r.arch_file}" if r.arch_file else f"model {r.model} ({r.variant})"
    epochs = f"{r.epochs} epoch{'s' * (r.epochs != 1)}"
    lines = [f"trained {r.name} ({what}) on {r.data} for {epochs} in {r.seconds:.0f} s",
             f"  val accuracy: final {r.val_acc:.4f}, best {r.best_val_acc:.4f}",
             f"  {r.params_m:.3f}M params, {r.macs_m:.1f}M MACs"
             + (f", batch-1 latency {r.latency_ms:.3f} ms on {r.latency['device']} "
                f"({r.latency['threads']} thread{'s' * (r.latency['threads'] != 1)})" if r.latency else ""),
             f"  run dir: {out_dir} (result.json, checkpoint.pt, weights.pt, tb/)"]
    if r.arch_file:
        export = f"arch={out_dir / ARCH}"
    else:
        export = f"model={r.model} variant={r.variant} num_classes={r.num_classes}"
    lines.append(f"  export: python -m nas.export {export} weights={out_dir / WEIGHTS} out={out_dir / 'export'}")
    return "\n".join(lines)
