"""Factorized hierarchical spaces (MNASNet's, Tan et al. 2019, Sec. 4.1): the net is a sequence of
blocks and each block makes its own decisions, shared by all its layers.

YAML (see ``search_spaces/mnasnet.yaml``)::

    type: factorized
    blocks: [{chs: 16, layers: 1}, ...]         # the base (MobileNetV2's) widths and depths
    decisions:                                 # every block decides each of these
      conv_op: {conv: {block: conv}, dwconv: {block: dw_separable}, mbconv3: {block: mbconv, exp_ratio: 3}}
      kernel_size: [3, 5]
      se_ratio: [0.0, 0.25]                    # applied to ops that take se_ratio
      skip_op: [pool, identity, none]
      filter_mult: [0.75, 1.0, 1.25]
      layers_delta: [-1, 0, 1]

Decisions are labelled ``b<block>.<name>`` (1-based blocks). A block has
``max(1, layers + layers_delta)`` layers of ``make_divisible(chs * width_mult * filter_mult)`` channels;
its first layer carries the stride. ``skip_op``: ``identity`` adds the input where shapes match;
``pool`` does too and, where they do not, adds an average-pooled, 1x1-projected shortcut; ``none``
adds nothing.
"""

from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import torch
from torch import nn

from nas.blocks import BLOCKS
from nas.layers import make_divisible
from nas.space.arch import Arch
from nas.space.base import SHORTCUT, Decision, OpUse, Residual, SearchSpace, adds_shortcut, build_block
from nas.space.loader import SPACE_TYPES
from nas.space.validate import MAX_CHS, MAX_LAYERS, MAX_WIDTH, Checker

DECISIONS = ("conv_op", "kernel_size", "se_ratio", "skip_op", "filter_mult", "layers_delta")
SKIP_OPS = ("pool", "identity", "none")


@dataclass(frozen=True)
class BlockPlan:
    """One block of a resolved architecture."""

    index: int
    in_chs: int
    out_chs: int
    stride: int
    layers: int
    op: Dict[str, Any]
    skip_op: str


@SPACE_TYPES.register("factorized")
class FactorizedSpace(SearchSpace):
    kind = "factorized"

    def __init__(self, name: str, source: str, data: Dict[str, Any], c: Checker, common: Dict[str, Any],
                 args: Dict[str, Any]):
        c.keys(data, "", ["variants", "stem", "blocks", "decisions"], ["name", "type", "description", "paper", "head"])
        self.name, self.source, self.args = name, source, args
        self.variant, self.resolution = common["variant"], common["resolution"]
        self.num_classes, self.width_mult = common["num_classes"], common["width_mult"]
        self.stem, self.head = common["stem"], common["head"]
        blocks = c.list(data["blocks"], "blocks")
        if len(common["strides"]) != len(blocks):
            raise c.fail(f"variants.{self.variant}.strides", f"one stride per block ({len(blocks)})",
                         len(common["strides"]))
        self.blocks: List[Tuple[int, int, int]] = []
        for i, b in enumerate(blocks):
            c.keys(c.mapping(b, f"blocks[{i}]"), f"blocks[{i}]", ["chs", "layers"])
            self.blocks.append((c.int(b["chs"], f"blocks[{i}].chs", 1, MAX_CHS),
                                c.int(b["layers"], f"blocks[{i}].layers", 1, MAX_LAYERS),
                                common["strides"][i]))
        dec = c.mapping(data["decisions"], "decisions")
        c.keys(dec, "decisions", DECISIONS)
        ops = c.mapping(dec["conv_op"], "decisions.conv_op")
        self.conv_ops = {str(k): c.block_config(v, f"decisions.conv_op.{k}") for k, v in ops.items()}
        kernels = tuple(c.kernel(k, "decisions.kernel_size")
                        for k in c.list(dec["kernel_size"], "decisions.kernel_size"))
        ses = tuple(c.number(s, "decisions.se_ratio", 0.0, 1.0) for s in c.list(dec["se_ratio"], "decisions.se_ratio"))
        skips = tuple(c.list(dec["skip_op"], "decisions.skip_op"))
        for s in skips:
            if s not in SKIP_OPS:
                raise c.fail("decisions.skip_op", f"items from {', '.join(SKIP_OPS)}", s)
        mults = tuple(c.number(m, "decisions.filter_mult", 0.05, MAX_WIDTH) for m in c.list(dec["filter_mult"],
                                                                                "decisions.filter_mult"))
        deltas = dec["layers_delta"]
        for d in c.list(deltas, "decisions.layers_delta"):
            if isinstance(d, bool) or not isinstance(d, int) or abs(d) > MAX_LAYERS:
                raise c.fail("decisions.layers_delta", f"a list of integers from -{MAX_LAYERS} to {MAX_LAYERS}", d)
        deepest = max(b[1] for b in self.blocks) + max(deltas)
        if deepest > MAX_LAYERS:
            raise c.fail("decisions.layers_delta", f"blocks of at most {MAX_LAYERS} layers (the deepest block and "
                         f"the largest delta make {deepest})", max(deltas))
        self.options = {"conv_op": tuple(self.conv_ops), "kernel_size": kernels, "se_ratio": ses,
                        "skip_op": skips, "filter_mult": mults, "layers_delta": tuple(deltas)}
        for k, choices in self.options.items():
            if len(set(choices)) != len(choices):
                raise c.fail(f"decisions.{k}", "distinct choices (each one once)", list(choices))
        self.decisions = [Decision(f"b{i + 1}.{k}", self.options[k]) for i in range(len(self.blocks))
                          for k in DECISIONS]
        self._check_ops(c)

    def op_config(self, conv_op: str, kernel_size: int, se_ratio: float) -> Dict[str, Any]:
        cfg = dict(self.conv_ops[conv_op])
        accepted = inspect.signature(BLOCKS.get(cfg["block"]).__init__).parameters
        if "kernel_size" in accepted:
            cfg["kernel_size"] = kernel_size
        if "se_ratio" in accepted and se_ratio > 0:
            cfg["se_ratio"] = se_ratio
            if "se_from_input" in accepted:
                cfg["se_from_input"] = True  # MNASNet reduces from the block's input channels
        if "residual" in accepted:
            cfg["residual"] = False  # the skip_op decision owns the shortcut
        return cfg

    def _check_ops(self, c: Checker) -> None:
        """Every op must build at the widest and narrowest widths of every block (on meta)."""
        widest = self.plan({d.label: d.choices[-1] if "mult" in d.label else d.choices[0] for d in self.decisions})
        narrowest = self.plan({d.label: d.choices[0] for d in self.decisions})
        for plan in (widest, narrowest):
            for b in plan:
                for name in self.conv_ops:
                    for k in self.options["kernel_size"]:
                        for se in self.options["se_ratio"]:
                            try:
                                with torch.device("meta"):
                                    build_block(self.op_config(name, k, se), b.in_chs, b.out_chs, b.stride)
                            except (ValueError, TypeError, RuntimeError) as err:
                                raise c.fail(f"decisions.conv_op.{name}", f"an op that takes {b.in_chs}->"
                                             f"{b.out_chs} channels at stride {b.stride} (block {b.index + 1}): "
                                             f"{err}") from None

    def block_chs(self, i: int, filter_mult: float) -> int:
        return make_divisible(self.blocks[i][0] * self.width_mult * filter_mult)

    def plan(self, choices: Dict[str, Any]) -> List[BlockPlan]:
        """The blocks of an architecture: widths, depths and the op each layer runs."""
        plans, in_chs = [], self.stem["chs"]
        for i, (_, layers, stride) in enumerate(self.blocks):
            get = lambda k: choices[f"b{i + 1}.{k}"]
            out_chs = self.block_chs(i, get("filter_mult"))
            op = self.op_config(get("conv_op"), get("kernel_size"), get("se_ratio"))
            plans.append(BlockPlan(i, in_chs, out_chs, stride, max(1, layers + get("layers_delta")), op,
                                   get("skip_op")))
            in_chs = out_chs
        return plans

    def build(self, arch: Arch) -> nn.Module:
        self.check(arch)
        plans, stages = self.plan(arch.choices), []
        for b in plans:
            layers = []
            for j in range(b.layers):
                in_chs, stride = (b.in_chs, b.stride) if j == 0 else (b.out_chs, 1)
                layers.append(Residual(build_block(b.op, in_chs, b.out_chs, stride), in_chs, b.out_chs, stride,
                                       b.skip_op))
            stages.append(layers)
        return self.assemble(self.build_stem(), stages, *self.build_head(plans[-1].out_chs))

    # --- op instances (for latency tables) -----------------------------------------------------
    def block_input_size(self, i: int) -> int:
        """Spatial size of block ``i``'s (0-based) input."""
        size = math.ceil(self.resolution / self.stem["stride"])
        for _, _, stride in self.blocks[:i]:
            size = math.ceil(size / stride)
        return size

    def block_op_instances(self, i: int, in_chs: int, choices: Dict[str, Any]) -> List[OpUse]:
        """The ops block ``i`` (0-based) runs given its input width and its own decisions (keyed by the
        short names ``conv_op``, ``kernel_size``, ...): per layer the body op (site ``b<i>.<j>``) and,
        where the layer adds one, its shortcut (site ``b<i>.<j>.skip``, config ``{block: shortcut}``:
        ``out + shortcut(x)``, the shortcut being identity or avg-pool + 1x1 projection)."""
        _, layers, stride = self.blocks[i]
        out_chs = self.block_chs(i, choices["filter_mult"])
        op = self.op_config(choices["conv_op"], choices["kernel_size"], choices["se_ratio"])
        size, skip_op, uses = self.block_input_size(i), choices["skip_op"], []
        for j in range(max(1, layers + choices["layers_delta"])):
            cin, s, sz = (in_chs, stride, size) if j == 0 else (out_chs, 1, math.ceil(size / stride))
            site = f"b{i + 1}.{j}"
            uses.append(OpUse(site, choices["conv_op"], dict(op), cin, out_chs, s, sz))
            if adds_shortcut(cin, out_chs, s, skip_op):
                uses.append(OpUse(f"{site}.skip", skip_op, {"block": SHORTCUT}, cin, out_chs, s, sz))
        return uses

    def head_widths(self) -> List[int]:
        return sorted({self.block_chs(len(self.blocks) - 1, m) for m in self.options["filter_mult"]})

    def final_size(self) -> int:
        return self.block_input_size(len(self.blocks))

    def latency_bounds(self, cost: Callable[[OpUse], float]) -> Tuple[float, float]:
        """Dynamic programming over blocks: a block's cost depends on its own decisions and its input
        width (the previous block's filter multiplier), so the state is the width between blocks."""
        o = self.options
        combos = [dict(zip(DECISIONS, c)) for c in itertools.product(*(o[k] for k in DECISIONS))]
        lo: Dict[int, float] = {self.stem["chs"]: 0.0}
        hi: Dict[int, float] = {self.stem["chs"]: 0.0}
        for i in range(len(self.blocks)):
            new_lo: Dict[int, float] = {}
            new_hi: Dict[int, float] = {}
            for in_chs in lo:
                for c in combos:
                    block = sum(cost(u) for u in self.block_op_instances(i, in_chs, c))
                    out = self.block_chs(i, c["filter_mult"])
                    new_lo[out] = min(new_lo.get(out, math.inf), lo[in_chs] + block)
                    new_hi[out] = max(new_hi.get(out, -math.inf), hi[in_chs] + block)
            lo, hi = new_lo, new_hi
        stem = cost(self.stem_op())
        ends = {w: cost(self.head_op(w)) for w in lo}
        return stem + min(lo[w] + ends[w] for w in lo), stem + max(hi[w] + ends[w] for w in hi)

    def module_comments(self, arch: Arch, model: nn.Module) -> Dict[int, str]:
        out: Dict[int, str] = {}
        c = arch.choices
        for stage, b in zip(model.stages, self.plan(c)):
            p = f"b{b.index + 1}"
            out[id(stage)] = (f"block {p}: {c[p + '.conv_op']}, kernel {c[p + '.kernel_size']}, se "
                              f"{c[p + '.se_ratio']:g}, skip {b.skip_op}, {b.layers} layer"
                              f"{'s' * (b.layers > 1)} ({c[p + '.layers_delta']:+d}), {b.in_chs} -> {b.out_chs} "
                              f"channels (x{c[p + '.filter_mult']:g}), stride {b.stride}")
        return out

    def op_instances(self, arch: Arch) -> List[OpUse]:
        """The ops ``arch`` runs between stem and head, in order (see :meth:`block_op_instances`)."""
        self.check(arch)
        uses, in_chs = [], self.stem["chs"]
        for i in range(len(self.blocks)):
            choices = {k: arch.choices[f"b{i + 1}.{k}"] for k in DECISIONS}
            uses += self.block_op_instances(i, in_chs, choices)
            in_chs = self.block_chs(i, choices["filter_mult"])
        return uses

    def all_op_instances(self) -> List[OpUse]:
        """Every op any architecture of this space can run (not deduplicated): each block at each input
        width its predecessor can give, each op, skip op and width, at its largest depth."""
        uses: List[OpUse] = []
        o = self.options
        deepest = max(o["layers_delta"])
        for i in range(len(self.blocks)):
            widths = [self.stem["chs"]] if i == 0 else sorted({self.block_chs(i - 1, m) for m in o["filter_mult"]})
            for in_chs, conv_op, k, se, skip, mult in itertools.product(
                    widths, o["conv_op"], o["kernel_size"], o["se_ratio"], o["skip_op"], o["filter_mult"]):
                uses += self.block_op_instances(i, in_chs, dict(conv_op=conv_op, kernel_size=k, se_ratio=se,
                                                                skip_op=skip, filter_mult=mult,
                                                                layers_delta=deepest))
        return uses
