"""Fuzzed space YAML and arch files (issue #19): random deletions, type swaps, out-of-range values,
renamed keys and corrupted text. A loader either accepts a file whose space (or arch) then builds and
runs, or rejects it with one NasError naming the file; never another exception (a traceback).

Seeds: a layer-wise, a factorized and a cell space (the toy forms of the bundled ones, which are
slow to load on this machine) and an arch of each. ``FILES`` fuzzed files per loader run by default;
the slow test runs 1,000 of each.
"""

from __future__ import annotations

import copy
import random
import traceback
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest
import torch
import yaml

from nas.errors import NasError
from nas.space import load_arch, load_space
from test_latency_fixtures import FACTORIZED, LAYERWISE
from test_nb201 import TINY

CELL = TINY  # the cell space of test_nb201
SEEDS = {"layerwise": LAYERWISE, "factorized": FACTORIZED, "cell": CELL}
FILES = 80  # per loader in the default run
ODD = [None, True, False, 0, -1, -7, 1, 2, 3, 0.5, -0.5, 1e9, 10 ** 12, float("nan"), float("inf"), "", "abc",
       "relu", "mbconv", "skip", [], [1, 2], [[1]], {}, {"x": 1}, {"block": "mbconv"}, {"block": "nope"}]


def _paths(tree: Any, prefix: Tuple = ()) -> List[Tuple]:
    """Every path (tuple of keys / indices) into a parsed YAML tree."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, prefix + (i,))
    return out


def _get(tree: Any, path: Tuple) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def _odd(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(ODD))  # a fresh copy: a shared list must not end up inside itself


def _odd_number(rng: random.Random, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _odd(rng)
    return rng.choice([0, -value, -1, value * 1000, value + 0.5, 10 ** 9, float("nan"), 1e-9, -(10 ** 6)])


def mutate_tree(tree: Any, rng: random.Random) -> Any:
    """1-3 random edits of ``tree``: delete, swap a value for an odd one, push a number out of range,
    rename a key, add an unknown key."""
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            return _odd(rng)
        path = rng.choice(paths)
        parent, key = _get(tree, path[:-1]), path[-1]
        op = rng.choice(["delete", "swap", "number", "rename", "add"])
        if op == "delete":
            del parent[key]
        elif op == "swap":
            parent[key] = _odd(rng)
        elif op == "number":
            parent[key] = _odd_number(rng, parent[key])
        elif op == "rename" and isinstance(parent, dict):
            parent[rng.choice(["chs", "layers", "block", "nodes", "ops", "x", "stride", "kernel_size"])] = \
                parent.pop(key)
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "act", "exp_ratio", "se_ratio", "cells", "op"])] = _odd(rng)
        else:
            parent.append(_odd(rng))
    return tree


def mutate_text(text: str, rng: random.Random) -> str:
    op = rng.choice(["truncate", "garbage", "swap"])
    i = rng.randrange(max(1, len(text)))
    if op == "truncate":
        return text[:i]
    if op == "garbage":
        junk = ["[", "{", ":", "- ", "\t", "'", "\x00", "&a", "*a", "!!python/object:os.system"]
        return text[:i] + rng.choice(junk) + text[i:]
    j = rng.randrange(max(1, len(text)))
    chars = list(text)
    chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def mutate_leaf(tree: Any, rng: random.Random) -> Any:
    """One leaf (a number, a name) changed: a near-valid file, the kind a loader is most likely to let
    through with a nonsensical value."""
    tree = copy.deepcopy(tree)
    leaves = [p for p in _paths(tree) if p and not isinstance(_get(tree, p), (dict, list))]
    path = rng.choice(leaves)
    parent, key = _get(tree, path[:-1]), path[-1]
    value = parent[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = _odd_number(rng, value)
    else:
        parent[key] = rng.choice([_odd(rng), f"{value}x", "none", 3, -1])
    return tree


def fuzz_file(seed_text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.2:
        return mutate_text(seed_text, rng)
    tree = yaml.safe_load(seed_text)
    tree = mutate_leaf(tree, rng) if r < 0.6 else mutate_tree(tree, rng)
    return yaml.safe_dump(tree, sort_keys=False)


def exercise(space) -> None:
    """What a search does with a loaded space: its decisions, a random arch built and run (meta device)."""
    arch = space.sample(random.Random(0))
    space.check(arch)
    space.decode(space.encode(arch))
    with torch.device("meta"):
        net = space.build(arch)
        out = net(torch.empty(1, 3, space.resolution, space.resolution))
    assert out.shape == (1, space.num_classes)


def run_fuzz(tmp_path: Path, n: int, make: Callable[[random.Random, Path], Tuple[Callable[[], Any], Path]],
             seed: int) -> dict:
    """``n`` fuzzed files; each must load (and be exercised) or raise a NasError of one line naming the
    fuzzed file. Returns the counts and every other outcome (a traceback, an unclear message) with its file."""
    counts = {"accepted": 0, "rejected": 0}
    failures = []
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        check, path = make(rng, tmp_path / f"f{i}")
        try:
            check()
            counts["accepted"] += 1
        except NasError as err:
            message = str(err).strip()
            if "\n" in message or path.name not in message:
                failures.append((i, f"unclear message: {message}"))
            else:
                counts["rejected"] += 1
        except Exception:  # noqa: BLE001 - what the test looks for
            failures.append((i, traceback.format_exc(limit=-3)))
    counts["failures"] = failures
    return counts


def space_case(rng: random.Random, stem: Path) -> Callable[[], Any]:
    kind = rng.choice(sorted(SEEDS))
    path = stem.with_suffix(".yaml")
    path.write_text(fuzz_file(SEEDS[kind], rng))
    variant = rng.choice(["cifar", "cifar", "cifar", "imagenet", None])
    width = rng.choice([None, None, 0.5, 2.0])

    def check():
        exercise(load_space(path, variant=variant, width_mult=width))

    return check, path


def valid_arch(kind: str, tmp: Path) -> Tuple[Path, dict]:
    path = tmp / f"seed_{kind}.yaml"
    if not path.exists():
        path.write_text(SEEDS[kind])
    space = load_space(path, variant="cifar")
    return path, {**space.sample(random.Random(1)).to_dict(), "space": str(path)}


def arch_case(rng: random.Random, stem: Path) -> Callable[[], Any]:
    kind = rng.choice(sorted(SEEDS))
    space_path, data = valid_arch(kind, stem.parent)
    data = mutate_leaf(data, rng) if rng.random() < 0.5 else mutate_tree(data, rng)
    if isinstance(data, dict) and rng.random() < 0.3:
        args = data.get("space_args")
        data["space_args"] = mutate_tree(dict(args) if isinstance(args, dict) else {"variant": "cifar"}, rng) \
            if rng.random() < 0.5 else {"variant": "cifar", rng.choice(["width_mult", "resolution", "num_classes"]):
                                        _odd(rng)}
    path = stem.with_suffix(rng.choice([".yaml", ".json"]))
    text = yaml.safe_dump(data, sort_keys=False) if path.suffix == ".yaml" else _json(data)
    path.write_text(mutate_text(text, rng) if rng.random() < 0.15 else text)

    def check():  # what nas.train and nas.export do with an arch file
        arch, space = load_arch(path)
        with torch.device("meta"):
            space.build(arch)(torch.empty(1, 3, space.resolution, space.resolution))

    return check, path


def _json(data: Any) -> str:
    import json

    return json.dumps(data, allow_nan=True, default=str)


def _report(name: str, counts: dict) -> str:
    lines = [f"{name}: {counts['accepted']} accepted, {counts['rejected']} rejected with one line, "
             f"{len(counts['failures'])} other exceptions"]
    for i, tb in counts["failures"][:5]:
        lines.append(f"--- file {i} ---\n{tb}")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_fuzzed_space_files_load_or_fail_in_one_line(tmp_path):
    counts = run_fuzz(tmp_path, FILES, space_case, seed=0)
    assert not counts["failures"], _report("space files", counts)
    assert counts["rejected"] > FILES // 3 and counts["accepted"] > 0  # the fuzzer does reach both outcomes


def test_fuzzed_arch_files_load_or_fail_in_one_line(tmp_path):
    counts = run_fuzz(tmp_path, FILES, arch_case, seed=0)
    assert not counts["failures"], _report("arch files", counts)
    assert counts["rejected"] > FILES // 3 and counts["accepted"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("case", [space_case, arch_case], ids=["space", "arch"])
def test_a_thousand_fuzzed_files(tmp_path, case):
    counts = run_fuzz(tmp_path, 1000, case, seed=1)
    print(_report(case.__name__, counts))
    assert not counts["failures"], _report(case.__name__, counts)


def test_the_fuzzer_finds_what_it_is_looking_for(tmp_path, monkeypatch):
    """A loader that lets a nonsensical value through to the build is caught (the test can fail)."""
    import nas.space.loader as loader

    real = loader.load_space

    def sloppy(*args, **kwargs):
        space = real(*args, **kwargs)
        space.build = lambda arch: (_ for _ in ()).throw(RuntimeError("negative dimension"))
        return space

    monkeypatch.setattr("test_fuzz_loaders.load_space", sloppy)
    counts = run_fuzz(tmp_path, 20, space_case, seed=0)
    assert counts["failures"] and not counts["accepted"]


def test_a_message_that_does_not_name_the_file_is_caught(tmp_path, monkeypatch):
    from nas.space import SpaceError

    def vague(*args, **kwargs):
        raise SpaceError("space", "chs", "a valid value")

    monkeypatch.setattr("test_fuzz_loaders.load_space", vague)
    counts = run_fuzz(tmp_path, 5, space_case, seed=0)
    assert len(counts["failures"]) == 5 and all("unclear message" in tb for _, tb in counts["failures"])
