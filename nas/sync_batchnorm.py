"""BatchNorm over the rows of every rank of a process group (``device.sync_bn=true``; see
:mod:`nas.distributed`): :class:`SyncBatchNorm`, which runs on gloo and NCCL alike (torch's own
``nn.SyncBatchNorm`` refuses CPU tensors, and DDP refuses it on CPU), and the in-place conversion of a
model's BatchNorms to it and back."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def _in_group() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _SyncBNFunction(torch.autograd.Function):
    """Batch normalisation over the rows of every rank: statistics all-reduced in float64 (count, sum,
    centred sum of squares), the input gradient from the all-reduced sums of ``dy`` and ``dy * (x -
    mean)``; weight and bias gradients stay local (DDP averages them). Every sum accumulates in float64,
    as torch's CPU kernels do: the sums of ``dy`` cancel (a BatchNorm further on makes its input
    gradient sum to zero), and float32 accumulation would lose most of their digits."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum):
        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, c] + [1] * (x.dim() - 2)
        n = x.numel() // c
        f64 = torch.float64
        if n:
            mean_l = x.sum(dims, dtype=f64) / n
            m2_l = (x - mean_l.to(x.dtype).view(shape)).pow(2).sum(dims, dtype=f64)
        else:
            mean_l = m2_l = x.new_zeros(c, dtype=f64)
        stats = torch.cat([torch.tensor([float(n)], dtype=f64, device=x.device), mean_l * n, m2_l + mean_l ** 2 * n])
        dist.all_reduce(stats)
        count = stats[0]
        if count < 2:
            raise ValueError(f"expected more than 1 value per channel when training, got {int(count)}")
        mean = stats[1:1 + c] / count
        var = (stats[1 + c:] / count - mean ** 2).clamp_min(0)
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_((var * count / (count - 1)).to(running_var.dtype), alpha=momentum)
        mean_t = mean.to(x.dtype)
        invstd = torch.rsqrt(var + eps).to(x.dtype)
        xhat = (x - mean_t.view(shape)) * invstd.view(shape)
        ctx.save_for_backward(xhat, weight, invstd)
        ctx.count, ctx.dims, ctx.shape = count, dims, shape
        out = xhat if weight is None else xhat * weight.view(shape)
        return out if bias is None else out + bias.view(shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, weight, invstd = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        sum_dy = grad.sum(dims, dtype=torch.float64)
        sum_dy_xhat = (grad * xhat).sum(dims, dtype=torch.float64)
        sums = torch.cat([sum_dy, sum_dy_xhat])
        dist.all_reduce(sums)
        c = grad.shape[1]
        mean_dy = (sums[:c] / ctx.count).to(grad.dtype)
        mean_dy_xhat = (sums[c:] / ctx.count).to(grad.dtype)
        scale = invstd if weight is None else invstd * weight
        dx = (grad - mean_dy.view(shape) - xhat * mean_dy_xhat.view(shape)) * scale.view(shape)
        dw = sum_dy_xhat.to(grad.dtype) if weight is not None and ctx.needs_input_grad[1] else None
        db = sum_dy.to(grad.dtype) if ctx.needs_input_grad[2] else None
        return dx, dw, db, None, None, None, None


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A BatchNorm whose training statistics are those of the rows of every rank (torch's
    ``nn.SyncBatchNorm`` refuses CPU tensors, and DDP refuses it on CPU; this one runs on gloo and
    NCCL alike). Same state-dict keys as ``BatchNorm2d``; outside a group of 2+ processes, or in eval
    mode, it is a plain BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _in_group()):
            return super().forward(x)
        self._check_input_dim(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        running = self.track_running_stats and self.running_mean is not None
        return _SyncBNFunction.apply(x, self.weight, self.bias, self.running_mean if running else None,
                                     self.running_var if running else None, self.eps, factor)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every ``BatchNorm*d`` of ``module`` made a :class:`SyncBatchNorm` in place (its class swapped: the
    same objects, parameters, buffers and hooks, so references held elsewhere stay valid). Returns
    ``module``."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, (SyncBatchNorm, nn.SyncBatchNorm)):
            m._nas_bn_class = type(m)
            m.__class__ = SyncBatchNorm
    return module


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """The inverse of :func:`convert_sync_batchnorm` (in place): the original BatchNorm classes, for
    export, profiling and latency timing. Returns ``module``."""
    for m in module.modules():
        if isinstance(m, SyncBatchNorm) and "_nas_bn_class" in m.__dict__:
            m.__class__ = m.__dict__.pop("_nas_bn_class")
    return module


def has_unsynced_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, (SyncBatchNorm, nn.SyncBatchNorm))
               for m in model.modules())
