"""Structured config of ``python -m nas.export`` (registered in Hydra's ConfigStore; values in conf/export.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from hydra.core.config_store import ConfigStore

from nas.checks import ranged


@dataclass
class ExportConf:
    """What to export (exactly one of ``arch`` and ``model``), from which weights, and where to."""

    arch: Optional[str] = None  # an arch file (YAML/JSON) of a search space, e.g. a search's arch.yaml
    model: Optional[str] = None  # a registered baseline instead (python -m nas.models lists them)
    variant: Optional[str] = None  # with model=: imagenet (default) | cifar
    num_classes: Optional[int] = ranged(None, ge=1)  # with model=: classifier width (default 1000, cifar 10)
    # a state_dict or a checkpoint holding one (a nas.train checkpoint.pt / weights.pt, a search's
    # checkpoint.pt: the arch's weights are taken from its supernet, a supernet's state)
    weights: Optional[str] = None
    out: Optional[str] = None  # output directory (required)
    name: Optional[str] = None  # file stem of the outputs (default: the arch file's or the model's name)
    seed: int = ranged(0, ge=0, lt=2**32)  # seed of the fresh initialisation when no weights are given
    onnx: bool = True  # write ONNX (skipped with a note without onnx/onnxruntime)
    verify: bool = True  # check every artefact against the in-package network, also in a fresh interpreter
    # deployable programs checked against the net and timed (nas.export.runtimes.FORMATS), e.g. [pt,onnx_int8];
    # null: the torch.export program (.pt2) beside TorchScript and ONNX, untimed
    formats: Optional[List[str]] = None


def register_configs() -> None:
    ConfigStore.instance().store(name="export_schema", node=ExportConf)
