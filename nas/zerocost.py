"""Zero-cost proxies: scores of an untrained network that rank architectures without training them.

- :func:`nwot`: NASWOT (Mellor et al. 2021, "Neural Architecture Search without Training", ICML,
  Sec. 3): each image of a minibatch gets a binary code, 1 where a rectified unit is active; the
  kernel ``K[i, j]`` counts the units on which images ``i`` and ``j`` agree (``N_A - d_H``, summed
  over every ReLU of the net), and the score is ``log |det K|``. Nets whose codes tell the inputs
  apart score high. The reference scores freshly initialised nets in train mode, so BatchNorm
  normalises with the batch's statistics.
- :func:`synflow`: SynFlow (Tanaka et al. 2020, "Pruning neural networks without any data by
  iteratively conserving synaptic flow"; used as a NAS proxy by Abdelfattah et al. 2021, "Zero-Cost
  Proxies for Lightweight NAS", ICLR): with every parameter replaced by its absolute value, no
  BatchNorm and an all-ones input in float64, ``R = sum(net(1))`` and the score is
  ``sum |theta * dR/dtheta|`` over the weights of the convolutions and linear layers (the reference
  implementation's choice; biases count in ``R`` but are not summed).
- :func:`params`, :func:`macs`: the size baselines every proxy paper compares against
  (:mod:`nas.profile`'s counts).

What counts as a "ReLU" for :func:`nwot` (:data:`RECTIFIERS`): ``nn.ReLU`` (in place or not),
``nn.ReLU6``, ``nn.LeakyReLU`` and C.ReLU, i.e. the piecewise-linear rectifiers whose kink at 0 splits
the input space into linear regions, which is what the codes describe (the reference hooks every
module whose type name contains "ReLU"). A unit's code is ``output > 0``, read by a forward hook
right after the module ran, so in-place ReLUs and channels-last tensors are handled (ReLU6's second
kink at 6 is ignored, as in the reference). Hard-swish, swish, sigmoid and hard-sigmoid are not
rectifiers of that kind and are not counted; a net without any rectifier has no codes and is an error.
Modules of SE blocks count (their units are per channel).

:func:`squash` maps a raw score to the positive, rank-preserving number the controllers' rewards use.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Dict, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nas.errors import NasError
from nas.layers.activations import CReLU
from nas.profile import count_macs, count_params

RECTIFIERS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, CReLU)


class ZeroCostError(NasError):
    """A zero-cost proxy that cannot score a network (unknown name, no rectifiers, a bad batch)."""


@torch.no_grad()
def nwot_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """NASWOT's ``N x N`` kernel (float64) of batch ``x``: ``K[i, j]`` = units where images i and j
    have the same binary code, summed over every rectifier (:data:`RECTIFIERS`) of ``model``.

    BatchNorm uses the batch's statistics (running statistics untouched), dropout is off; the
    model's modes are restored afterwards."""
    n = x.shape[0]
    if n < 2:
        raise ZeroCostError("nwot", "batch", "at least 2 images (the kernel compares images)", n)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
        # +1 active, -1 inactive: s s^T = agreements - disagreements, so agreements = (s s^T + D) / 2
        s = (output.reshape(n, -1) > 0).to(torch.float32).mul_(2).sub_(1)
        kernel.add_((s @ s.T).to(torch.float64).add_(s.shape[1]).mul_(0.5))

    rectifiers = [m for m in model.modules() if isinstance(m, RECTIFIERS)]
    if not rectifiers:
        raise ZeroCostError("nwot", "model", "a network with ReLU-family activations (nn.ReLU, nn.ReLU6, "
                            "nn.LeakyReLU, CReLU); hard-swish and other smooth activations give no codes",
                            type(model).__name__)
    modes = {m: m.training for m in model.modules()}
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    tracking = [m.track_running_stats for m in bns]
    handles = [m.register_forward_hook(hook) for m in rectifiers]
    try:
        model.eval()
        for m in bns:  # batch statistics without touching the running ones
            m.train()
            m.track_running_stats = False
        model(x)
    finally:
        for h in handles:
            h.remove()
        for m, t in zip(bns, tracking):
            m.track_running_stats = t
        for m, mode in modes.items():
            m.training = mode
    return kernel


def nwot(model: nn.Module, x: torch.Tensor) -> float:
    """NASWOT's score ``log |det K|`` of batch ``x`` (natural log; ``-inf`` when ``K`` is singular, e.g.
    two identical images or codes that do not separate them). See :func:`nwot_kernel`."""
    sign, logdet = torch.linalg.slogdet(nwot_kernel(model, x))
    return float(logdet) if float(sign) > 0 else -math.inf


def _without_batchnorm(model: nn.Module) -> nn.Module:
    """``model`` with every BatchNorm module replaced by ``nn.Identity`` (in place)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm):
                setattr(parent, name, nn.Identity())
    return model


def synflow(model: nn.Module, input_shape: Sequence[int]) -> float:
    """SynFlow of ``model`` on an all-ones input of ``input_shape`` (the evaluator passes batch 1).

    Works on a copy (``model`` is not changed): BatchNorm removed (identity), dropout off, every
    parameter replaced by its absolute value, float64. ``R = sum(net(ones))``; the score is
    ``sum |w * dR/dw|`` over the weights of ``nn.Conv2d`` and ``nn.Linear`` modules. For a bias-free
    net of L such layers with ReLUs, R is homogeneous of degree 1 in each layer's weights, so the
    score is ``L * R`` (Euler's theorem; the tests check it)."""
    net = _without_batchnorm(copy.deepcopy(model)).eval().double()
    with torch.no_grad():
        for p in net.parameters():
            if p.is_floating_point():
                p.abs_()
    for p in net.parameters():
        p.requires_grad_(p.is_floating_point())
        p.grad = None
    device = next((p.device for p in net.parameters()), torch.device("cpu"))
    out = net(torch.ones(tuple(input_shape), dtype=torch.float64, device=device))
    out.sum().backward()
    total = 0.0
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
                total += float((m.weight * m.weight.grad).abs().sum())
    return total


def params(model: nn.Module) -> float:
    """Parameter count (:func:`nas.profile.count_params`)."""
    return float(count_params(model))


def macs(model: nn.Module, input_shape: Sequence[int]) -> float:
    """Multiply-adds of one image (:func:`nas.profile.count_macs` at batch 1)."""
    return float(count_macs(model, (1, *tuple(input_shape)[1:])))


def squash(proxy: str, score: float, batch_size: int = 1) -> float:
    """The positive, rank-preserving number handed to the controllers as ``accuracy``: ``log(1 + m)``
    with ``m >= 0`` the proxy's magnitude.

    ``m`` is the raw count for ``params``, ``macs`` and ``synflow``; for ``nwot`` (a log-determinant
    of a ``batch_size``-image kernel, negative or in the hundreds) it is ``exp(score / batch_size)``,
    the geometric mean of K's eigenvalues, so the value is ``softplus(score / batch_size)`` and does
    not grow with the batch. MNASNet's soft reward ``ACC * (LAT/T)^-0.07`` asks a 2x slower arch for a
    5% higher ACC (``2^0.07 = 1.05``), i.e. ``m`` larger by ``exp(0.05 * ACC)``. On the fbnet space
    (CIFAR, width 0.5; archs from 6M to 56M MACs) ACC was 10.5-13.4 for nwot at batch 128 (m x1.7-1.9),
    12.7-14.0 for params (x1.9-2.0), 15.6-17.8 for macs (x2.2-2.4) and 21-86 for synflow (x3-70: SynFlow
    grows exponentially with depth, so there the latency weighs more). The map is fixed (no
    normalisation by the archs seen so far), so rewards do not drift during a search; ``-inf`` (a
    singular NASWOT kernel) maps to 0."""
    if proxy not in PROXIES:
        raise ZeroCostError("evaluator", "proxy", f"one of {', '.join(PROXIES)}", proxy)
    if proxy == "nwot":
        g = score / batch_size
        if g == -math.inf:
            return 0.0
        return g + math.log1p(math.exp(-g)) if g > 0 else math.log1p(math.exp(g))
    return math.log1p(max(0.0, score))


# proxy name -> what it needs: "batch" (real images) or "shape" (an input shape only)
PROXIES: Dict[str, str] = {"nwot": "batch", "synflow": "shape", "params": "shape", "macs": "shape"}


def score(proxy: str, model: nn.Module, x: torch.Tensor) -> float:
    """The raw score of ``proxy`` for ``model`` on batch ``x`` (shape-only proxies use ``x``'s shape
    with batch 1)."""
    fns: Dict[str, Callable[[], float]] = {
        "nwot": lambda: nwot(model, x),
        "synflow": lambda: synflow(model, (1, *x.shape[1:])),
        "params": lambda: params(model),
        "macs": lambda: macs(model, x.shape),
    }
    if proxy not in fns:
        raise ZeroCostError("evaluator", "proxy", f"one of {', '.join(PROXIES)}", proxy)
    return fns[proxy]()
