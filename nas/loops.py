"""Plain training and evaluation loops shared by ``nas.train``, the proxy and one-shot evaluators.

Standard recipe: SGD with Nesterov momentum, cosine learning rate (after an optional linear warm-up
over the first ``warmup_epochs``, step by step), label smoothing, the dataset's
augmentation (crop + flip for CIFAR), seeded batch order. Training runs in the channels-last memory
format (:func:`to_device`, :func:`batch_to`): on CPU it makes a training step of the depthwise-separable
nets 1.1-1.8x faster (``bench/channels_last.py``); outputs are the same up to float rounding.

Under torchrun (``nas.distributed``) the loops run data-parallel: each rank takes its share of every
global batch, gradients are averaged over the ranks (DDP for a model made by
``nas.distributed.prepare``; an all-reduce for the optimiser's other parameters), and the figures
returned are those of the global batches, the same on every rank. On CUDA the forward pass runs in
bfloat16 autocast (``Recipe.amp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nas import distributed as dist
from nas.data import BatchLoader, ImageData
from nas.errors import NasError
from nas.progress import progress as progress_bar


@dataclass
class Recipe:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.0
    augment: bool = True
    max_steps_per_epoch: Optional[int] = None
    amp: str = "auto"  # auto: bfloat16 autocast on CUDA, none on CPU | bf16 | off (nas.distributed.autocast)


class NonFiniteLoss(NasError):
    """A training loss that became NaN or infinite (lower the learning rate, or check the data)."""


def to_device(model: nn.Module, device="cpu") -> nn.Module:
    """``model`` on ``device`` with its 4-d weights in the channels-last memory format (in place)."""
    return model.to(device, memory_format=torch.channels_last)


def batch_to(x: torch.Tensor, device="cpu") -> torch.Tensor:
    """An image batch on ``device`` in the channels-last memory format."""
    return x.to(device, memory_format=torch.channels_last)


def make_optimizer(model: nn.Module, recipe: Recipe):
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, recipe.epochs))
    return opt, sched


def train_epoch(model: nn.Module, loader: BatchLoader, opt, recipe: Recipe, epoch: int, device="cpu",
                before_step: Optional[Callable[[], None]] = None, progress: bool = True,
                loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
                desc: Optional[str] = None,
                step_fn: Optional[Callable[[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]] = None,
                ) -> Dict[str, float]:
    """One epoch; ``before_step`` runs before each batch (e.g. sampling a supernet path); ``loss_fn(out, y)``
    replaces the cross-entropy (with the recipe's label smoothing), e.g. FBNet's latency-aware loss, and
    ``opt`` steps whatever parameters it holds (weights, or an architecture's logits). ``step_fn(x, y) ->
    (out, loss)`` replaces the forward pass and the loss: gradients are zeroed before it, so it may run and
    backpropagate more passes itself (a supernet's several paths per step); ``loss`` is backpropagated
    here and ``out`` is what the epoch's train accuracy counts.

    On a process group (see the module docstring) ``model`` is a ``nas.distributed.prepare`` wrapper, or
    a model with synchronised BatchNorms whose optimiser's gradients are all-reduced here."""
    distributed = dist.is_distributed()
    reduced = dist.ddp_parameters(model)
    local_bn = distributed and dist.has_unsynced_batchnorm(model)  # per-rank statistics (device.sync_bn=false)
    if local_bn and not reduced:
        raise RuntimeError("train_epoch on a process group: wrap the model first (nas.distributed.prepare), "
                           "or convert its BatchNorms (nas.distributed.convert_sync_batchnorm)")
    rest = [p for g in opt.param_groups for p in g["params"] if id(p) not in reduced] if distributed else []
    progress = progress and dist.is_main()
    loader = dist.local_loader(loader)
    model.train()
    loader.set_epoch(epoch)
    total = correct = seen = 0.0
    steps = len(loader) if recipe.max_steps_per_epoch is None else min(len(loader), recipe.max_steps_per_epoch)
    it = iter(loader)
    base_lrs = [g["lr"] for g in opt.param_groups]  # the schedule's value for this epoch
    for step in progress_bar(range(steps), desc=desc or f"epoch {epoch + 1}", unit="step", leave=False,
                             enabled=progress):
        if epoch < recipe.warmup_epochs:
            scale = min(1.0, (epoch * steps + step + 1) / (recipe.warmup_epochs * steps))
            for g, lr in zip(opt.param_groups, base_lrs):
                g["lr"] = lr * scale
        x, y = next(it)
        x, y = batch_to(x, device), y.to(device)
        if before_step is not None:
            before_step()
        opt.zero_grad(set_to_none=True)
        with dist.autocast(str(device), recipe.amp):
            if step_fn is not None:
                out, loss = step_fn(x, y)
            else:
                out = model(x)
                loss = loss_fn(out, y) if loss_fn else F.cross_entropy(out, y, label_smoothing=recipe.label_smoothing)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}")
        loss.backward()
        if rest:
            dist.average_gradients(rest)
        opt.step()
        total += loss.item() * len(y)
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    for g, lr in zip(opt.param_groups, base_lrs):
        g["lr"] = lr
    if local_bn:  # every rank evaluates with rank 0's running statistics, as DDP forwards did
        dist.broadcast_buffers(model)
    if distributed:
        total, correct, seen = dist.all_sum(total, correct, seen)
    return {"train_loss": total / max(1, seen), "train_acc": correct / max(1, seen)}


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData, batch_size: int = 256, device="cpu") -> Dict[str, float]:
    """Mean loss and accuracy on ``data`` (on a process group: each rank scores its share, sums all-reduced)."""
    model.eval()
    loader = dist.local_loader(BatchLoader(data, batch_size, shuffle=False))
    total = correct = seen = 0.0
    for x, y in loader:
        if not len(y):
            continue
        x, y = batch_to(x, device), y.to(device)
        out = model(x)
        total += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        seen += len(y)
    total, correct, seen = dist.all_sum(total, correct, seen)
    return {"val_loss": total / max(1, seen), "val_acc": correct / max(1, seen)}


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable, device="cpu") -> None:
    """Re-estimate BatchNorm statistics on a few batches (cumulative average), as SPOS scores paths.
    On a process group with synchronised BatchNorms each rank runs its share of every batch (the
    statistics are the whole batches'); with plain ones every rank runs the whole batches."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    shard = dist.is_distributed() and not dist.has_unsynced_batchnorm(model)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x, _ in batches:
        model(batch_to(dist.local_rows(x) if shard else x, device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
