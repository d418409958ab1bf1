"""Read the weights to export from a checkpoint file, and check they fit the network.

Accepted files (all loaded with ``torch.load(..., weights_only=True)``):

- a state_dict (a mapping of parameter/buffer names to tensors);
- a checkpoint dict holding one under one of :data:`CHECKPOINT_KEYS` (the first that holds a
  state_dict wins), e.g. ``{"model": state_dict, "optimizer": ..., "epoch": 90}``;
- for an architecture of a search space, either of the above holding the state of that space's
  weight-sharing SUPERNET (``build_supernet(space).state_dict()``), or an FBNet search's
  ``checkpoint.pt`` (its supernet under ``search.supernet``): the child's weights are then
  inherited with ``supernet.extract(arch)``.

Keys prefixed by ``module.`` (DataParallel / DDP) or ``_orig_mod.`` (``torch.compile``) are accepted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import torch
from torch import nn

from nas.export.errors import ExportError
from nas.supernet import build_supernet

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "weights", "net", "supernet")
PREFIXES = ("module.", "_orig_mod.")

StateDict = Dict[str, torch.Tensor]


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> StateDict:
    state = dict(state)
    for prefix in PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | os.PathLike) -> Tuple[StateDict, str]:
    """``(state_dict, where)``: the tensors in ``path`` and a description naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(str(path), "<file>", "an existing checkpoint file (a state_dict saved with torch.save)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ExportError(str(path), "<file>", "a checkpoint that torch.load reads with weights_only=True",
                          f"an unreadable file ({type(err).__name__}: {reason})") from None
    if _is_state_dict(obj):
        return _strip_prefixes(obj), str(path)
    if isinstance(obj, Mapping):
        for key in CHECKPOINT_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return _strip_prefixes(obj[key]), f"{path}[{key!r}]"
        search = obj.get("search")
        if isinstance(search, Mapping) and _is_state_dict(search.get("supernet")):  # an fbnet search's checkpoint.pt
            return _strip_prefixes(search["supernet"]), f"{path}['search']['supernet']"
        if str(obj.get("format", "")).startswith("nas-strategy-checkpoint"):
            raise ExportError(str(path), "<top level>", "weights; a controller search's checkpoint holds the "
                              "controller's state only: pass the trained weights (python -m nas.train arch=<its "
                              "best_arch.yaml>, then weights=<train run>/weights.pt) or the oneshot evaluator's "
                              "cached supernet (outputs/supernets/*.pt)", "a controller checkpoint")
        keys = ", ".join(repr(k) for k in list(obj)[:8])
        raise ExportError(str(path), "<top level>", "a state_dict, or a dict holding one under one of "
                          f"{', '.join(CHECKPOINT_KEYS)}", f"a dict with keys {keys or '(none)'}")
    raise ExportError(str(path), "<top level>", "a state_dict or a checkpoint dict", type(obj).__name__)


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_fits(state: Mapping[str, torch.Tensor], model: nn.Module, where: str, what: str = "this network") -> None:
    """Raise :class:`ExportError` naming the first key of ``state`` that does not fit ``model``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise ExportError(where, missing[0], f"a tensor for every parameter and buffer of {what} "
                          f"(the checkpoint lacks {len(missing)} of its {len(expected)} keys)")
    extra = [k for k in state if k not in expected]
    if extra:
        raise ExportError(where, extra[0], f"only keys of {what} (the checkpoint has {len(extra)} keys it does "
                          "not have)")
    for k, t in expected.items():
        if tuple(state[k].shape) != tuple(t.shape):
            raise ExportError(where, k, f"shape {_shape(t)} for {what}", _shape(state[k]))


def looks_like_supernet(state: Mapping[str, torch.Tensor]) -> bool:
    """Supernet states hold every candidate op under ``...ops.<candidate>...``."""
    return any(".ops." in k for k in state)


def inherit_from_supernet(space, arch, state: StateDict, where: str) -> StateDict:
    """The child weights of ``arch`` taken from a supernet state of ``space`` (``Supernet.extract``)."""
    supernet = build_supernet(space)
    check_fits(state, supernet, where, f"the supernet of space '{space.name}'")
    supernet.load_state_dict(state)
    return supernet.extract(arch).state_dict()
