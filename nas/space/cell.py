"""Cell spaces (NAS-Bench-201's kind, Dong & Yang 2020): one cell DAG is searched and repeated through a
fixed macro network.

YAML (see ``search_spaces/nb201.yaml``)::

    name: nb201
    type: cell
    variants: {cifar10: {resolution: 32, stem_stride: 1, strides: [1, 2, 2], num_classes: 10}, ...}
    stem: {chs: 16, kernel_size: 3, act: null}       # conv + BN
    stages:                                          # strides come from the variant
      - {chs: 16, cells: 5}
      - {chs: 32, cells: 5}                          # begins with the reduction block
    reduction: {block: nb201_resblock}               # opens every stage that changes stride or width
    cell:
      nodes: 4                                       # node 0 is the cell's input, the last its output
      ops:                                           # ordered: the order is the integer encoding
        none: {block: nb201_zero}
        nor_conv_3x3: {block: nb201_conv, kernel_size: 3}
    head: {act: relu, dropout: 0.0}                  # BN + act, global pool, (dropout,) linear

Node ``i`` of a cell sums ``op(i<-j)(node j)`` over ``j < i``. One decision per edge, labelled
``i<-j`` in the order of NB201's arch string (``1<-0, 2<-0, 2<-1, 3<-0, ...``); every cell of the
network runs the same ops (with its own weights). :meth:`CellSpace.to_string` /
:meth:`CellSpace.from_string` convert to and from the arch string
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``.

Latency accounting (what ``op_instances`` lists, and so what a latency table sums): a ``none`` edge
(an op whose block ``is_zero``) runs nothing and lists nothing; every other edge lists its op at the
cell's shape and, into a node with several inputs (node >= 2), one add (a ``shortcut`` use: ``y + x``
at that shape). A node with ``k >= 1`` live inputs runs ``k - 1`` adds, so the sum counts one add per
such node too many: two per cell for 95% of the archs, a near-constant offset that the table's
calibration intercept absorbs. This keeps latency additive per decision (``additive_ops``), as
FBNet's expected latency needs; stem, reduction blocks and head are the fixed part.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from nas.blocks import BLOCKS
from nas.blocks.nb201 import Cell
from nas.layers import Classifier, create_act, make_divisible
from nas.space.arch import Arch
from nas.space.base import SHORTCUT, Decision, OpUse, SearchSpace, build_block
from nas.space.errors import SpaceError
from nas.space.loader import SPACE_TYPES
from nas.space.validate import MAX_CHS, MAX_LAYERS, MAX_NODES, Checker

OP_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class CellStage:
    """One stage: an optional reduction block, then ``cells`` cells of ``chs`` channels at ``size`` px."""

    index: int
    in_chs: int
    chs: int
    stride: int
    cells: int
    input_size: int

    @property
    def reduces(self) -> bool:
        return self.stride > 1 or self.in_chs != self.chs

    @property
    def size(self) -> int:
        return math.ceil(self.input_size / self.stride)

    @property
    def label(self) -> str:
        return f"s{self.index + 1}"


@SPACE_TYPES.register("cell")
class CellSpace(SearchSpace):
    kind = "cell"

    def __init__(self, name: str, source: str, data: Dict[str, Any], c: Checker, common: Dict[str, Any],
                 args: Dict[str, Any]):
        c.keys(data, "", ["variants", "stem", "stages", "cell", "reduction"],
               ["name", "type", "description", "paper", "encoding", "head"])
        self.name, self.source, self.args = name, source, args
        self.variant, self.resolution = common["variant"], common["resolution"]
        self.num_classes, self.width_mult = common["num_classes"], common["width_mult"]
        self.stem, self.head = common["stem"], common["head"]
        if self.head.get("chs"):
            raise c.fail("head.chs", "no head conv in a cell space (its head is BN + activation, pool, linear)",
                         self.head["chs"])
        cell = c.mapping(data["cell"], "cell")
        c.keys(cell, "cell", ["nodes", "ops"])
        self.nodes = c.int(cell["nodes"], "cell.nodes", 2, MAX_NODES)
        ops = c.mapping(cell["ops"], "cell.ops")
        if not ops:
            raise c.fail("cell.ops", "at least one op")
        for op in ops:
            if not isinstance(op, str) or not OP_NAME.fullmatch(op):
                raise c.fail(f"cell.ops.{op}", "an op name of letters, digits and _ (arch strings separate ops "
                             "with |, ~ and +)")
        self.ops = {k: c.block_config(v, f"cell.ops.{k}") for k, v in ops.items()}
        self.zero_ops = {k for k, cfg in self.ops.items() if getattr(BLOCKS.get(cfg["block"]), "is_zero", False)}
        self.reduction = c.block_config(data["reduction"], "reduction")
        stages = c.list(data["stages"], "stages")
        strides = common["strides"]
        if len(strides) != len(stages):
            raise c.fail(f"variants.{self.variant}.strides", f"one stride per stage ({len(stages)})", len(strides))
        self.stages: List[CellStage] = []
        in_chs, size = self.stem["chs"], math.ceil(self.resolution / self.stem["stride"])
        for i, st in enumerate(stages):
            key = f"stages[{i}]"
            c.keys(c.mapping(st, key), key, ["chs", "cells"])
            chs = make_divisible(c.int(st["chs"], f"{key}.chs", 1, MAX_CHS) * self.width_mult)
            stage = CellStage(i, in_chs, chs, strides[i], c.int(st["cells"], f"{key}.cells", 1, MAX_LAYERS), size)
            self.stages.append(stage)
            in_chs, size = chs, stage.size
        self.out_chs = in_chs
        self.edges: List[Tuple[int, int]] = [(i, j) for i in range(1, self.nodes) for j in range(i)]
        self.decisions = [Decision(f"{i}<-{j}", tuple(self.ops)) for i, j in self.edges]
        self._check_blocks(c)

    def _check_blocks(self, c: Checker) -> None:
        """Every op must take each stage's cell shape, the reduction each stage's change (built on meta)."""
        for st in self.stages:
            todo = [(f"cell.ops.{n}", cfg, st.chs, st.chs, 1) for n, cfg in self.ops.items()]
            if st.reduces:
                todo.append(("reduction", self.reduction, st.in_chs, st.chs, st.stride))
            for key, cfg, cin, cout, stride in todo:
                try:
                    with torch.device("meta"):
                        build_block(cfg, cin, cout, stride)
                except (ValueError, TypeError, RuntimeError, AssertionError) as err:
                    raise c.fail(key, f"a block that takes {cin}->{cout} channels at stride {stride} (stage "
                                 f"{st.index + 1}): {err}") from None

    # --- arch strings ----------------------------------------------------------------------------
    def to_string(self, arch: Arch) -> str:
        """NB201's arch string: ``|op~0|+|op~0|op~1|+...|``, one ``+``-separated group per node >= 1."""
        self.check(arch)
        return "|" + "|+|".join("|".join(f"{arch.choices[f'{i}<-{j}']}~{j}" for j in range(i))
                                for i in range(1, self.nodes)) + "|"

    def from_string(self, text: str) -> Arch:
        """The architecture of an arch string (see :meth:`to_string`); a malformed one is a SpaceError."""
        src = f"arch string for space '{self.name}'"
        example = "|" + "|+|".join("|".join(f"<op>~{j}" for j in range(i)) for i in range(1, self.nodes)) + "|"
        if not isinstance(text, str):
            raise SpaceError(src, "<string>", f"a string {example}", text)
        groups = text.strip().split("+")
        if len(groups) != self.nodes - 1:
            raise SpaceError(src, "<string>", f"{self.nodes - 1} '+'-separated node groups ({example})", text)
        choices = {}
        for i, group in enumerate(groups, 1):
            items = group[1:-1].split("|")
            if len(group) < 2 or group[0] != "|" or group[-1] != "|" or len(items) != i:
                raise SpaceError(src, f"node {i}", f"{i} edge(s) between bars, "
                                 f"|{'|'.join(f'<op>~{j}' for j in range(i))}|", group)
            for j, item in enumerate(items):
                op, sep, source = item.partition("~")
                if not sep or source != str(j):
                    raise SpaceError(src, f"node {i}", f"edge {j} written <op>~{j}", item)
                if op not in self.ops:
                    raise SpaceError(src, f"{i}<-{j}", f"an op of this space ({', '.join(self.ops)})", op)
                choices[f"{i}<-{j}"] = op
        return self.make_arch(choices)

    # --- children --------------------------------------------------------------------------------
    def build_cell(self, arch: Arch, chs: int) -> Cell:
        return Cell(chs, chs, 1, edges=[build_block(self.ops[arch.choices[d.label]], chs, chs, 1)
                                        for d in self.decisions])

    def build_reduction(self, st: CellStage) -> nn.Module:
        return build_block(self.reduction, st.in_chs, st.chs, st.stride)

    def build_head(self, in_chs: int) -> Tuple[nn.Module, nn.Module]:
        """NB201's ``lastact`` (BN + activation), then global pool and linear."""
        act = nn.Sequential(nn.BatchNorm2d(in_chs), create_act(self.head.get("act", "relu")))
        return act, Classifier(in_chs, self.num_classes, self.head.get("dropout", 0.0))

    def build(self, arch: Arch) -> nn.Module:
        """The child network of ``arch`` (a plain ``nn.Module``, freshly initialised)."""
        self.check(arch)
        stages = [([self.build_reduction(st)] if st.reduces else []) + [self.build_cell(arch, st.chs)
                                                                          for _ in range(st.cells)]
                  for st in self.stages]
        return self.assemble(self.build_stem(), stages, *self.build_head(self.out_chs))

    # --- op instances (for latency tables) -------------------------------------------------------
    def edge_uses(self, st: CellStage, cell: int, label: str, op: str) -> List[OpUse]:
        """What edge ``label`` with ``op`` runs in cell ``cell`` of stage ``st``: nothing for a zero op,
        else the op and, into a node with several inputs, its add (see the module docstring)."""
        if op in self.zero_ops:
            return []
        site = f"{st.label}.c{cell}.{label}"
        uses = [OpUse(site, op, dict(self.ops[op]), st.chs, st.chs, 1, st.size)]
        if int(label.split("<-")[0]) >= 2:
            uses.append(OpUse(f"{site}.add", op, {"block": SHORTCUT}, st.chs, st.chs, 1, st.size))
        return uses

    def reduction_uses(self) -> List[OpUse]:
        return [OpUse(f"{st.label}.reduce", "reduction", dict(self.reduction), st.in_chs, st.chs, st.stride,
                      st.input_size) for st in self.stages if st.reduces]

    def op_instances(self, arch: Arch) -> List[OpUse]:
        """The ops ``arch`` runs between stem and head, in order: per stage its reduction, then per cell
        per edge :meth:`edge_uses`."""
        self.check(arch)
        reductions = {u.site: u for u in self.reduction_uses()}
        uses: List[OpUse] = []
        for st in self.stages:
            if st.reduces:
                uses.append(reductions[f"{st.label}.reduce"])
            for k in range(st.cells):
                for d in self.decisions:
                    uses += self.edge_uses(st, k, d.label, arch.choices[d.label])
        return uses

    def all_op_instances(self) -> List[OpUse]:
        uses = self.reduction_uses()
        for st in self.stages:
            for d in self.decisions:
                for op in d.choices:
                    uses += self.edge_uses(st, 0, d.label, op)  # every cell of a stage has the same shapes
        return uses

    def head_widths(self) -> List[int]:
        return [self.out_chs]

    def final_size(self) -> int:
        return self.stages[-1].size

    def additive_ops(self) -> Tuple[List[OpUse], Dict[str, List[List[OpUse]]]]:
        """Fixed: stem, reduction blocks, head; per edge decision and op: that edge in every cell."""
        fixed = [self.stem_op(), *self.reduction_uses(), self.head_op(self.out_chs)]
        return fixed, {d.label: [[u for st in self.stages for k in range(st.cells)
                                  for u in self.edge_uses(st, k, d.label, op)] for op in d.choices]
                       for d in self.decisions}

    def module_comments(self, arch: Arch, model: nn.Module) -> Dict[int, str]:
        out: Dict[int, str] = {}
        text = self.to_string(arch)
        for st, stage in zip(self.stages, model.stages):
            layers = list(stage)
            red = f"reduction {st.in_chs} -> {st.chs} channels at stride {st.stride}, then " if st.reduces else ""
            out[id(stage)] = (f"stage {st.index + 1}: {red}{st.cells} cell{'s' * (st.cells > 1)} of {st.chs} "
                              f"channels at {st.size}x{st.size}")
            if st.reduces:
                out[id(layers.pop(0))] = f"{st.label}.reduce: {st.in_chs} -> {st.chs} channels, stride {st.stride}"
            for k, cell in enumerate(layers):
                out[id(cell)] = f"{st.label}.c{k}: {text}"
                for d, edge in zip(self.decisions, cell.edges):
                    out[id(edge)] = f"{d.label}: {arch.choices[d.label]}"
        return out
