"""Structured config of ``python -m nas.train`` (registered in Hydra's ConfigStore; values in conf/train.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from nas.checks import ranged
from nas.config import DataConf, DeviceConf, register_shared


@dataclass
class TrainConf:
    """What to train (exactly one of ``arch`` and ``model``) and the recipe (see ``nas.loops.Recipe``)."""

    data: DataConf = MISSING
    device: DeviceConf = MISSING
    arch: Optional[str] = None  # an arch file (YAML/JSON) of a search space, e.g. a search's arch.yaml
    model: Optional[str] = None  # a baseline name (python -m nas.models lists them)
    variant: Optional[str] = None  # with model=: imagenet | cifar; null: cifar for 32 px data (cifar*, digits)
    epochs: int = ranged(30, ge=1)
    batch_size: int = ranged(128, ge=1)
    lr: float = ranged(0.1, gt=0) # for batch 128; scaled linearly with batch_size (Goyal et al. 2017)
    momentum: float = ranged(0.9, ge=0, lt=1) # SGD with Nesterov momentum, cosine schedule
    weight_decay: float = ranged(5e-4, ge=0)
    label_smoothing: float = ranged(0.1, ge=0, lt=1)
    warmup_epochs: float = ranged(1.0, ge=0) # linear lr warm-up, step by step, before the cosine schedule (0: none)
    augment: Optional[bool] = None  # null: data.augment, else the dataset's default (crop + flip for CIFAR)
    max_steps_per_epoch: Optional[int] = ranged(None, ge=1) # cut epochs short (smoke runs)
    seed: int = ranged(0, ge=0, lt=2**32)
    resume: Optional[str] = None  # a run directory to continue from its checkpoint.pt
    out_dir: Optional[str] = None  # default: Hydra's run directory
    latency_threads: Optional[int] = ranged(None, ge=1) # threads of the batch-1 latency measurement; null: device.threads or 1
    measure_latency: bool = True  # time the trained net at batch 1 on the device (result.json latency_ms)


def register_configs() -> None:
    cs = ConfigStore.instance()
    register_shared(cs)
    cs.store(name="train_schema", node=TrainConf)
