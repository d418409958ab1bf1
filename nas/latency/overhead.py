"""The cost of calling a program at all, subtracted from a runtime table's entries.

An op lowered alone pays what a network pays once per call, not once per op: the Python binding,
binding inputs and outputs, the runtime's dispatch, and for int8 the quantize / dequantize at the
program's boundary (inside a network activations stay int8 between ops). Timed per op, that is added
~20-80 us per layer (even to ``skip``, which costs nothing inside a network): on the toy space of the
tests the op sum came out 13x the network's latency. So for every distinct input shape a trivial
program (a ReLU of the input, lowered the same way) is timed with the same protocol, and an op's
entry is its time minus that of its input shape, not below zero (kept in ``meta.call_overhead_ms``); the network's one
call is left to the calibration's intercept.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

Shape = Tuple[int, int, int]


class CallOnly(nn.Module):
    """As little as a program can do with its input and still be one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


def shape_of(use) -> Shape:
    return (use.in_chs, use.input_size, use.input_size)


def shape_key(shape: Shape) -> str:
    return "x".join(str(v) for v in shape)


def call_overheads(uses: Sequence, s, passes: int, reference=None, progress: bool = True) -> Dict[Shape, float]:
    """Per input shape of ``uses``: the latency (ms) of :class:`CallOnly` in ``s.runtime``."""
    from nas.latency.measure import sweep

    shapes = sorted({shape_of(u) for u in uses})

    def make(shape):
        return CallOnly(), [shape], f"the {s.runtime} call overhead at {shape_key(shape)}"

    timings = sweep(shapes, make, dataclasses.replace(s, context_mb=0.0), passes,
                    desc=f"{s.runtime} call overhead", progress=progress, reference=reference)
    scale: Optional[float] = reference.ms if reference is not None else None
    return {sh: (t.ratio * scale if scale is not None else t.median_ms) for sh, t in zip(shapes, timings)}
