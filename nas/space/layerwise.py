"""Layer-wise spaces (FBNet's kind): every searchable layer picks one op out of named candidates.

YAML (see ``search_spaces/fbnet.yaml``)::

    name: fbnet
    type: layerwise
    variants: {imagenet: {resolution: 224, stem_stride: 2, strides: [...], head_chs: 1984}, cifar: {...}}
    stem: {chs: 16, kernel_size: 3, act: relu}
    stages:                       # one entry per stage; strides come from the variant
      - {chs: 16, layers: 1}
      - {chs: 24, layers: 4, candidates: [k3_e1, skip]}   # optional subset for this stage
      - {chs: 32, layers: 1, op: k3_e6}                    # a fixed (not searched) stage
    candidates:                   # ordered: the order is the integer encoding of an arch
      k3_e1: {block: mbconv, kernel_size: 3, exp_ratio: 1}
      skip: {block: skip}
    head: {chs: 1984, act: relu, dropout: 0.2}

Decisions are labelled ``s<stage>.<layer>`` (1-based stages, 0-based layers).

``load_space(..., fix_transitions=OP)`` fixes every *transition* layer (one that changes the channel
count or strides, so no block in it adds a residual) to candidate ``OP``: those layers leave the
decisions (an option of supernet training, docs/supernets.md; archs record it in ``space_args``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import torch
from torch import nn

from nas.space.arch import Arch
from nas.space.base import Decision, Layer, OpUse, SearchSpace, build_block
from nas.space.loader import SPACE_TYPES
from nas.layers import make_divisible
from nas.space.validate import MAX_CHS, MAX_LAYERS, Checker


@SPACE_TYPES.register("layerwise")
class LayerwiseSpace(SearchSpace):
    kind = "layerwise"

    def __init__(self, name: str, source: str, data: Dict[str, Any], c: Checker, common: Dict[str, Any],
                 args: Dict[str, Any]):
        c.keys(data, "", ["variants", "stem", "stages", "candidates"],
               ["name", "type", "description", "paper", "encoding", "head"])
        self.name, self.source, self.args = name, source, args
        self.variant, self.resolution = common["variant"], common["resolution"]
        self.num_classes, self.width_mult = common["num_classes"], common["width_mult"]
        self.stem, self.head = common["stem"], common["head"]
        cands = c.mapping(data["candidates"], "candidates")
        if not cands:
            raise c.fail("candidates", "at least one candidate op")
        self.candidates = {str(k): c.block_config(v, f"candidates.{k}") for k, v in cands.items()}
        stages = c.list(data["stages"], "stages")
        strides = common["strides"]
        if len(strides) != len(stages):
            raise c.fail(f"variants.{self.variant}.strides", f"one stride per stage ({len(stages)})", len(strides))
        self.layers: List[Layer] = []
        self._checked: set = set()
        self.fixed: Dict[str, str] = {}
        in_chs, size = self.stem["chs"], math.ceil(self.resolution / self.stem["stride"])
        for i, st in enumerate(stages):
            key = f"stages[{i}]"
            c.keys(c.mapping(st, key), key, ["chs", "layers"], ["candidates", "op"])
            out_chs = make_divisible(c.int(st["chs"], f"{key}.chs", 1, MAX_CHS) * self.width_mult)
            names = list(self.candidates)
            if "candidates" in st:
                names = c.list(st["candidates"], f"{key}.candidates")
            if "op" in st:
                names = [st["op"]]
            for n in names:
                if n not in self.candidates:
                    raise c.fail(f"{key}.candidates" if "op" not in st else f"{key}.op",
                                 f"names from candidates ({', '.join(self.candidates)})", n)
            for j in range(c.int(st["layers"], f"{key}.layers", 1, MAX_LAYERS)):
                stride = strides[i] if j == 0 else 1
                layer = Layer(f"s{i + 1}.{j}", i, j, in_chs, out_chs, stride, size, tuple(names))
                self._check_layer(c, layer)
                if "op" in st:
                    self.fixed[layer.label] = st["op"]
                self.layers.append(layer)
                in_chs, size = out_chs, math.ceil(size / stride)
        self.out_chs = in_chs
        fix = args.get("fix_transitions")
        if fix is not None:
            for layer in self.layers:
                if layer.label not in self.fixed and (layer.stride != 1 or layer.in_chs != layer.out_chs):
                    if fix not in layer.candidates:
                        raise c.fail("override fix_transitions", f"a candidate of transition layer {layer.label} "
                                     f"({', '.join(layer.candidates)})", fix)
                    self.fixed[layer.label] = fix
        self.decisions = [Decision(l.label, l.candidates) for l in self.layers if l.label not in self.fixed]

    def _check_layer(self, c: Checker, layer: Layer) -> None:
        """Every candidate must take this layer's channels and stride (built on meta: no memory)."""
        for name in layer.candidates:
            key = (name, layer.in_chs, layer.out_chs, layer.stride)
            if key in self._checked:
                continue
            self._checked.add(key)
            try:
                with torch.device("meta"):
                    build_block(self.candidates[name], layer.in_chs, layer.out_chs, layer.stride)
            except (ValueError, TypeError, RuntimeError, AssertionError) as err:
                raise c.fail(f"candidates.{name}", f"a block that takes {layer.in_chs}->{layer.out_chs} channels "
                             f"at stride {layer.stride} (layer {layer.label}): {err}") from None

    def op_of(self, arch: Arch, layer: Layer) -> str:
        return self.fixed.get(layer.label) or arch.choices[layer.label]

    def build_op(self, name: str, layer: Layer) -> nn.Module:
        return build_block(self.candidates[name], layer.in_chs, layer.out_chs, layer.stride)

    def stage_layers(self) -> List[List[Layer]]:
        stages: List[List[Layer]] = []
        for layer in self.layers:
            if layer.index == 0:
                stages.append([])
            stages[-1].append(layer)
        return stages

    def build(self, arch: Arch) -> nn.Module:
        """The child network of ``arch`` (a plain ``nn.Module``, freshly initialised)."""
        self.check(arch)
        stages = [[self.build_op(self.op_of(arch, l), l) for l in st] for st in self.stage_layers()]
        return self.assemble(self.build_stem(), stages, *self.build_head(self.out_chs))

    # --- op instances (for latency tables) -----------------------------------------------------
    def op_instances(self, arch: Arch) -> List[OpUse]:
        """The searchable-body ops ``arch`` runs, one per layer in order (stem and head not included)."""
        self.check(arch)
        return [self.layer_op_instance(l, self.op_of(arch, l)) for l in self.layers]

    def all_op_instances(self) -> List[OpUse]:
        """Every (layer, candidate) op any architecture of this space can run (not deduplicated)."""
        return [self.layer_op_instance(l, name) for l in self.layers for name in l.candidates]

    def head_widths(self) -> List[int]:
        return [self.out_chs]

    def final_size(self) -> int:
        last = self.layers[-1]
        return math.ceil(last.input_size / last.stride)

    def additive_ops(self) -> Tuple[List[OpUse], Dict[str, List[List[OpUse]]]]:
        fixed = [self.stem_op(), self.head_op(self.out_chs)]
        fixed += [self.layer_op_instance(l, self.fixed[l.label]) for l in self.layers if l.label in self.fixed]
        layers = {l.label: l for l in self.layers}
        return fixed, {d.label: [[self.layer_op_instance(layers[d.label], c)] for c in d.choices]
                       for d in self.decisions}

    def module_comments(self, arch: Arch, model: nn.Module) -> Dict[int, str]:
        out: Dict[int, str] = {}
        for i, (stage, layers) in enumerate(zip(model.stages, self.stage_layers())):
            first = layers[0]
            out[id(stage)] = (f"stage {i + 1}: {len(layers)} layer{'s' * (len(layers) > 1)}, {first.in_chs} -> "
                              f"{first.out_chs} channels, stride {first.stride}, {first.input_size}x"
                              f"{first.input_size} input")
            for block, layer in zip(stage, layers):
                fixed = " (fixed)" if layer.label in self.fixed else ""
                out[id(block)] = f"{layer.label}: {self.op_of(arch, layer)}{fixed}"
        return out

    def layer_op_instance(self, layer: Layer, name: str) -> OpUse:
        """Candidate ``name`` at ``layer``."""
        return OpUse(layer.label, name, dict(self.candidates[name]), layer.in_chs, layer.out_chs, layer.stride,
                     layer.input_size)
