"""Eager PyTorch: today's behaviour (the module itself, timed as it is); float32 only here (float16 /
bfloat16 eager tables use the ``dtype`` of ``nas.latency`` as before)."""

from __future__ import annotations

import torch

from nas.runtimes.base import Backend


class Eager(Backend):
    name = "eager"
    package = "torch"
    extra = "-"
    dtypes = ("float32", "float16", "bfloat16")

    def version(self) -> str:
        return torch.__version__
