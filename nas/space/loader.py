"""Load a search space from ``search_spaces/<name>.yaml`` (or any path), validate it, apply overrides.

``load_space(name_or_path, variant='imagenet'|'cifar', width_mult=1.0, num_classes=None,
resolution=None, head_chs=None, fix_transitions=None)`` (``fix_transitions``: layer-wise spaces only,
see :class:`~nas.space.layerwise.LayerwiseSpace`). Every problem in the file ends in one :class:`SpaceError`
naming the file, the key and what was expected.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, List

import yaml

from nas.layers import make_divisible
from nas.registry import Registry
from nas.space.errors import SpaceError
from nas.space.validate import MAX_CHS, MAX_CLASSES, MAX_RESOLUTION, MAX_STRIDE, MAX_WIDTH, Checker

SPACE_DIRS = [Path(__file__).resolve().parents[2] / "search_spaces"]
if os.environ.get("NAS_SPACES_PATH"):
    SPACE_DIRS = [Path(p) for p in os.environ["NAS_SPACES_PATH"].split(os.pathsep)] + SPACE_DIRS

SPACE_TYPES = Registry("space type")
OVERRIDES = ("variant", "width_mult", "num_classes", "resolution", "head_chs", "fix_transitions")
DEFAULT_CLASSES = {"imagenet": 1000, "cifar": 10}


def space_files() -> Dict[str, Path]:
    """Every named space: the YAML files in ``SPACE_DIRS`` (earlier directories win)."""
    found: Dict[str, Path] = {}
    for d in reversed(SPACE_DIRS):
        for p in sorted(d.glob("*.yaml")) if d.is_dir() else []:
            found[p.stem] = p
    return found


def list_spaces() -> List[str]:
    return sorted(space_files())


def resolve_path(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise SpaceError(text, "<file>", "an existing search-space YAML file")
        return path
    files = space_files()
    if text not in files:
        raise SpaceError(text, "<name>", f"a known space ({', '.join(sorted(files)) or 'none found'}) or a .yaml path")
    return files[text]


def read_yaml(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpaceError(str(path), "<file>", f"valid YAML (parse error{where})") from None
    if not isinstance(data, dict):
        raise SpaceError(str(path), "<top level>", "a mapping", type(data).__name__)
    return data


def resolve_common(data: Dict[str, Any], c: Checker, overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Variant, resolution, stem, head and strides after overrides, all checked."""
    for key in overrides:
        if key not in OVERRIDES:
            raise SpaceError(c.source, f"override {key}", f"one of {', '.join(OVERRIDES)}")
    def given(key: str, default: Any) -> Any:  # an override that is given (not None) must be valid: no 0 or ''
        return overrides[key] if overrides.get(key) is not None else default

    variant = c.str(given("variant", "imagenet"), "override variant")
    variants = c.mapping(data.get("variants"), "variants")
    if variant not in variants:
        raise c.fail("variants", f"a variant named {variant!r} (file has {', '.join(variants)})")
    v = c.mapping(variants[variant], f"variants.{variant}")
    c.keys(v, f"variants.{variant}", ["resolution", "stem_stride", "strides"], ["head_chs", "num_classes"])
    width = c.number(given("width_mult", 1.0), "override width_mult", 0.05, MAX_WIDTH)
    resolution = c.int(given("resolution", v["resolution"]), f"variants.{variant}.resolution", 8,
                       MAX_RESOLUTION)
    num_classes = given("num_classes", v.get("num_classes") or DEFAULT_CLASSES.get(variant, 1000))
    stem = dict(c.mapping(data.get("stem"), "stem"))
    c.keys(stem, "stem", ["chs"], ["kernel_size", "act"])
    stem["chs"] = make_divisible(c.int(stem["chs"], "stem.chs", 1, MAX_CHS) * width)
    stem["stride"] = c.int(v["stem_stride"], f"variants.{variant}.stem_stride", 1, MAX_STRIDE)
    if "kernel_size" in stem:
        c.kernel(stem["kernel_size"], "stem.kernel_size")
    if "act" in stem:
        c.act(stem["act"], "stem.act")
    head = dict(c.mapping(data.get("head", {}), "head"))
    c.keys(head, "head", [], ["chs", "act", "dropout"])
    if "act" in head:
        c.act(head["act"], "head.act")
    if "chs" in head:  # checked even where the variant's head_chs replaces it
        c.int(head["chs"], "head.chs", 1, MAX_CHS)
    if "dropout" in head:
        head["dropout"] = c.number(head["dropout"], "head.dropout", 0.0, 0.99)
    head_chs = given("head_chs", v.get("head_chs") or head.get("chs"))
    if head_chs:
        head["chs"] = make_divisible(c.int(head_chs, "head.chs", 1, MAX_CHS) * max(1.0, width))
    strides = [c.int(s, f"variants.{variant}.strides[{i}]", 1, MAX_STRIDE) for i, s in
               enumerate(c.list(v["strides"], f"variants.{variant}.strides"))]
    total = stem["stride"] * math.prod(strides)
    if resolution % total:
        raise c.fail(f"variants.{variant}.strides", f"a total stride ({total}) that divides the resolution "
                     f"({resolution})")
    return dict(variant=variant, width_mult=width, resolution=resolution,
                num_classes=c.int(num_classes, "num_classes", 1, MAX_CLASSES),
                stem=stem, head=head, strides=strides)


def load_space(name_or_path: str | os.PathLike, **overrides: Any):
    """Load, validate and resolve a search space. See the module docstring for the overrides."""
    path = resolve_path(name_or_path)
    data = read_yaml(path)
    c = Checker(str(path))
    kind = data.get("type", "layerwise")
    if kind not in SPACE_TYPES:
        raise c.fail("type", f"a space type ({', '.join(SPACE_TYPES.names())})", kind)
    if overrides.get("fix_transitions") is not None and kind != "layerwise":
        raise c.fail("override fix_transitions", f"a layer-wise space (this one is of type {kind})")
    common = resolve_common(data, c, {k: v for k, v in overrides.items() if v is not None or k not in OVERRIDES})
    name = c.str(data.get("name", path.stem), "name")
    args = {k: v for k, v in overrides.items() if v is not None}
    return SPACE_TYPES.get(kind)(name, str(path), data, c, common, args)


def load_arch(path: str | os.PathLike, **overrides: Any):
    """``(arch, space)`` from an arch file: the space it names, loaded with its ``space_args`` (and
    ``overrides``), and the arch checked against it. Every error names the arch file (and, inside, the
    space file's own message)."""
    from nas.space.arch import Arch

    arch = Arch.load(path)  # names the arch file when missing or unreadable
    args = {**arch.space_args, **overrides}
    bad = [k for k in args if not isinstance(k, str) or k not in OVERRIDES]
    if bad:
        raise SpaceError(str(path), f"space_args.{bad[0]}", f"one of {', '.join(OVERRIDES)}")
    try:
        space = load_space(arch.space, **args)
        space.check(arch)
    except SpaceError as err:
        raise SpaceError(str(path), "choices / space_args", f"an arch of its space ({err})") from None
    return arch, space
