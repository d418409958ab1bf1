"""Structured-config schemas shared by the Hydra apps (``nas.search``, ``nas.latency``, ...).

Each schema is a dataclass registered in Hydra's ConfigStore, so a misspelled or ill-typed key is an
error; YAML files under ``conf/`` hold only values. Groups shared by the apps: ``space``, ``data`` and ``device``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hydra.core.config_store import ConfigStore

from nas.checks import ranged


@dataclass
class SpaceConf:
    """Which search space, at which resolution variant and width (see ``nas.space.load_space``)."""

    name: str = "fbnet"
    variant: str = "cifar"  # imagenet (224) | cifar (32)
    width_mult: float = ranged(1.0, gt=0)
    resolution: Optional[int] = ranged(None, ge=8)  # None: the variant's
    fix_transitions: Optional[str] = None  # layer-wise spaces: fix the channel-changing layers to this op


@dataclass
class DataConf:
    name: str = "digits"  # digits | cifar10 | cifar100 | imagefolder
    root: Optional[str] = None  # the dataset directory (all but digits)
    download: bool = False  # fetch the official archive (CIFAR) when root has no copy; MD5 checked
    url: Optional[str] = None  # override the download URL (a mirror)
    md5: Optional[str] = None  # override the expected MD5
    arch_fraction: float = ranged(0.2, ge=0, lt=1) # share of the training set for architecture steps (FBNet: 20%)
    val_fraction: float = ranged(0.2, gt=0, lt=1) # held out for validation where the dataset has no test split (a search: always)
    limit_train: Optional[int] = ranged(None, ge=1) # a seeded subset of the training set (proxy searches)
    limit_val: Optional[int] = ranged(None, ge=1)
    augment: Optional[bool] = None  # None: the dataset's default (crop + flip for CIFAR / image folders)


@dataclass
class DeviceConf:
    """Where a job runs and what it measures latency on."""

    type: str = "cpu"  # cpu | cuda
    threads: Optional[int] = ranged(None, ge=1)  # intra-op threads; None: torch's default (all cores)
    amp: str = "auto"  # training autocast: auto (bfloat16 on cuda, none on cpu) | bf16 | off
    sync_bn: bool = False  # under torchrun: BatchNorm statistics of the global batch (exactly one process's
    # results; two collectives per BatchNorm and step) instead of each rank's share (docs/distributed.md)


def register_shared(cs: ConfigStore) -> None:
    cs.store(group="space", name="schema", node=SpaceConf)
    cs.store(group="data", name="schema", node=DataConf)
    cs.store(group="device", name="schema", node=DeviceConf)
