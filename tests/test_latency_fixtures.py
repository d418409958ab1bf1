"""Tiny search spaces and synthetic tables shared by the latency tests (no tests in here)."""

import random

from nas.latency.ops import build_use, op_key, space_uses, use_stats
from nas.latency.table import Entry, LatencyTable
from nas.space import load_space

LAYERWISE = """
name: tiny
type: layerwise
variants:
  cifar: {resolution: 8, stem_stride: 1, strides: [1, 2, 1], head_chs: 16, num_classes: 10}
stem: {chs: 8, kernel_size: 3, act: relu}
stages:
  - {chs: 8, layers: 2}
  - {chs: 16, layers: 1}
  - {chs: 16, layers: 1, op: k3_e1}
candidates:
  k3_e1: {block: mbconv, kernel_size: 3, exp_ratio: 1}
  k3_e3: {block: mbconv, kernel_size: 3, exp_ratio: 3}
  skip: {block: skip}
head: {chs: 16, act: relu}
"""

FACTORIZED = """
name: tinyf
type: factorized
variants:
  cifar: {resolution: 8, stem_stride: 1, strides: [1, 2]}
stem: {chs: 8}
blocks: [{chs: 8, layers: 1}, {chs: 16, layers: 2}]
decisions:
  conv_op: {dwconv: {block: dw_separable}, mbconv3: {block: mbconv, exp_ratio: 3}}
  kernel_size: [3]
  se_ratio: [0.0, 0.25]
  skip_op: [pool, identity, none]
  filter_mult: [0.5, 1.0]
  layers_delta: [-1, 0]
head: {chs: 16}
"""


def tiny_space(tmp_path, kind="layerwise"):
    path = tmp_path / f"tiny_{kind}.yaml"
    path.write_text(LAYERWISE if kind == "layerwise" else FACTORIZED)
    return load_space(path, variant="cifar")


def synthetic_table(space, seed=0, fingerprint=None):
    """Every op of ``space`` with a random latency and its true weights/activation counts."""
    import torch

    rng = random.Random(seed)
    entries = {}
    for use in space_uses(space):
        with torch.device("meta"):
            module, _ = build_use(space, use)
        entries[op_key(use)] = Entry(rng.uniform(0.01, 1.0), **use_stats(module, use, 1))
    from nas.latency.fingerprint import cpu_name

    # this CPU's name: a search refuses a table of another CPU model (unless latency.allow_mismatch)
    fp = {"device": "cpu", "device_name": cpu_name(), "threads": 1, "torch": "x", "dtype": "float32",
          "batch_size": 1, "resolution": space.resolution, "date": "2025-01-01"}
    fp.update(fingerprint or {})
    return LatencyTable(fp, entries)
