"""Search spaces: loading at both resolutions, validation errors, archs, building children."""

import json

import pytest
import torch

from nas.models import create_model
from nas.models.fbnet import ARCHS
from nas.profile import profile
from nas.space import Arch, SpaceError, list_spaces, load_space

SPACES = ["fbnet", "mnasnet", "seeds"]


def test_required_spaces_exist():
    assert set(SPACES) <= set(list_spaces())


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("variant", ["imagenet", "cifar"])
@pytest.mark.parametrize("width", [0.5, 1.0])
def test_space_loads_builds_and_runs(name, variant, width):
    space = load_space(name, variant=variant, width_mult=width)
    assert space.resolution == (32 if variant == "cifar" else 224)
    arch = space.sample(0)
    with torch.device("meta"):
        net = space.build(arch)
        out = net(torch.zeros(2, 3, space.resolution, space.resolution))
    assert out.shape == (2, space.num_classes)


@pytest.mark.parametrize("name", SPACES)
def test_cifar_child_trains(name):
    space = load_space(name, variant="cifar", width_mult=0.5)
    net = space.build(space.sample(1))
    loss = torch.nn.functional.cross_entropy(net(torch.randn(2, 3, 32, 32)), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_fbnet_space_is_the_papers():
    space = load_space("fbnet")
    assert len(space.decisions) == 22
    assert space.decisions[0].choices == ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3",
                                          "k5_e6", "skip")
    assert [l.out_chs for l in space.layers if l.index == 0] == [16, 24, 32, 64, 112, 184, 352]
    assert [l.stride for l in space.layers if l.index == 0] == [1, 2, 2, 2, 1, 2, 1]
    assert space.stem == {"chs": 16, "kernel_size": 3, "act": "relu", "stride": 2} and space.head["chs"] == 1984
    assert space.size() == 9 ** 22
    cifar = load_space("fbnet", variant="cifar")
    assert cifar.stem["stride"] == 1 and cifar.head["chs"] == 1504
    assert [l.stride for l in cifar.layers if l.index == 0] == [1, 1, 2, 2, 1, 2, 1]
    assert cifar.layers[-1].input_size == 4


@pytest.mark.parametrize("name", ["fbnet_a", "fbnet_b", "fbnet_c"])
def test_fbnet_baselines_are_archs_of_the_space(name):
    # FBNet-A's released head is 1504 wide (see nas.models.fbnet)
    space = load_space("fbnet", head_chs=1504 if name == "fbnet_a" else None)
    arch = space.decode(ARCHS[name])
    with torch.device("meta"):
        a, b = space.build(arch), create_model(name)
    assert profile(a, (1, 3, 224, 224)) == profile(b, (1, 3, 224, 224))
    assert [t.shape for t in a.state_dict().values()] == [t.shape for t in b.state_dict().values()]


def test_mnasnet_space_decisions():
    space = load_space("mnasnet")
    labels = [d.label for d in space.decisions]
    assert len(labels) == 7 * 6 and labels[:6] == ["b1.conv_op", "b1.kernel_size", "b1.se_ratio", "b1.skip_op",
                                                   "b1.filter_mult", "b1.layers_delta"]
    assert space.options["filter_mult"] == (0.75, 1.0, 1.25) and space.options["layers_delta"] == (-1, 0, 1)
    assert space.size() == (4 * 2 * 2 * 3 * 3 * 3) ** 7
    arch = space.make_arch({**{d.label: d.choices[0] for d in space.decisions}, "b4.layers_delta": 1,
                            "b4.filter_mult": 1.25})
    plan = space.plan(arch.choices)
    assert plan[3].layers == 5 and plan[3].out_chs == 80 and plan[0].layers == 1  # block 1: max(1, 1 - 1) layers


def test_seeds_space_has_every_family():
    space = load_space("seeds")
    blocks = {cfg["block"] for cfg in space.candidates.values()}
    assert blocks == {"mbconv", "shufflenet_v2_unit", "shufflenet_v1_unit", "ghost_bottleneck", "sandglass", "skip"}
    mb = [n for n, c in space.candidates.items() if c["block"] == "mbconv"]
    assert len(mb) == 3 * 2 * 2 * 2


@pytest.mark.parametrize("name", SPACES)
def test_arch_round_trip(name, tmp_path):
    space = load_space(name, variant="cifar")
    arch = space.sample(3)
    for suffix in ("yaml", "json"):
        path = arch.save(tmp_path / f"a.{suffix}")
        back = Arch.load(path)
        assert back == arch and space.encode(back) == space.encode(arch)
    assert json.loads(arch.dumps("json"))["space"] == name
    assert space.decode(space.encode(arch)) == arch
    rebuilt = load_space(back.space, **back.space_args)
    assert rebuilt.encode(back) == space.encode(arch)


def test_sampling_is_seeded_and_uniform():
    space = load_space("fbnet", variant="cifar")
    assert space.sample(7) == space.sample(7)
    counts = [0] * 9
    for seed in range(900):
        counts[space.encode(space.sample(seed))[0]] += 1
    assert min(counts) > 60 and max(counts) < 140  # 100 expected each


def test_build_is_deterministic_given_seed():
    space = load_space("fbnet", variant="cifar", width_mult=0.5)
    arch = space.sample(0)
    torch.manual_seed(1)
    a = space.build(arch).state_dict()
    torch.manual_seed(1)
    b = space.build(arch).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# --- errors --------------------------------------------------------------------------------------

BASE = """
name: tiny
variants:
  imagenet: {resolution: 32, stem_stride: 2, strides: [1, 2]}
stem: {chs: 8}
stages:
  - {chs: 8, layers: 1}
  - {chs: 16, layers: 2}
candidates:
  a: {block: mbconv, kernel_size: 3, exp_ratio: 3}
  b: {block: skip}
head: {chs: 32}
"""


def _write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_tiny_space_loads(tmp_path):
    space = load_space(_write(tmp_path, BASE))
    assert space.size() == 2 ** 3 and space.name == "tiny"


@pytest.mark.parametrize("change,key,expected", [
    (("block: skip", "block: skipp"), "candidates.b.block", "a registered block"),
    (("exp_ratio: 3}", "exp_ratio: 3, expansion: 2}"), "candidates.a.expansion", "an option of block 'mbconv'"),
    (("strides: [1, 2]", "strides: [1, 3]"), "variants.imagenet.strides", "divides the resolution"),
    (("strides: [1, 2]", "strides: [1]"), "variants.imagenet.strides", "one stride per stage"),
    (("{chs: 16, layers: 2}", "{chs: 16, layers: 0}"), "stages[1].layers", "an integer >= 1"),
    (("{chs: 16, layers: 2}", "{chs: 16, layers: 2, candidates: [a, c]}"), "stages[1].candidates",
     "names from candidates"),
    (("{chs: 16, layers: 2}", "{chs: 16, layer: 2}"), "stages[1].layer", "one of the keys"),
    (("exp_ratio: 3}", "exp_ratio: 3, groups: 3}"), "candidates.a", "a block that takes 8->8 channels"),
    (("stem: {chs: 8}", "stem: {chs: eight}"), "stem.chs", "an integer"),
    (("name: tiny", "name: tiny\nsurprise: 1"), "surprise", "one of the keys"),
])
def test_bad_space_files_fail_clearly(tmp_path, change, key, expected):
    path = _write(tmp_path, BASE.replace(*change))
    with pytest.raises(SpaceError) as err:
        load_space(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and key in msg and expected in msg, msg


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="valid YAML"):
        load_space(_write(tmp_path, "stages: [\n"))
    with pytest.raises(SpaceError, match="existing search-space YAML"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(SpaceError, match="known space .*fbnet"):
        load_space("fbnett")


def test_bad_overrides():
    with pytest.raises(SpaceError, match="override depth"):
        load_space("fbnet", depth=3)
    with pytest.raises(SpaceError, match="variant named 'mnist'"):
        load_space("fbnet", variant="mnist")
    with pytest.raises(SpaceError, match="divides the resolution"):
        load_space("fbnet", resolution=100)


def test_bad_archs():
    space = load_space("fbnet", variant="cifar")
    arch = space.sample(0)
    with pytest.raises(SpaceError, match="one of"):
        space.check(Arch("fbnet", {**arch.choices, "s1.0": "k7_e9"}))
    missing = dict(arch.choices)
    del missing["s3.1"]
    with pytest.raises(SpaceError, match="s3.1"):
        space.build(Arch("fbnet", missing))
    with pytest.raises(SpaceError, match="22 integers"):
        space.decode([0] * 21)
    with pytest.raises(SpaceError, match="choices"):
        Arch.loads("space: fbnet\nchoices: [1, 2]\n")


@pytest.mark.parametrize("text", ["null: 1\nspace: fbnet\nchoices: {}\n", "1: a\nzz: b\nspace: fbnet\nchoices: {}\n"])
def test_arch_file_with_keys_of_mixed_types_is_one_error(text):
    """YAML keys need not be strings (``null:``, ``1:``): an unknown one is named in the one-line error,
    not a TypeError from sorting keys of mixed types (found by the loader fuzz test)."""
    with pytest.raises(SpaceError, match="only the keys space, choices, space_args") as err:
        Arch.loads(text, "a.yaml")
    assert "\n" not in str(err.value)
