"""Zero-cost proxies (``nas.zerocost``) and ``evaluator=zerocost`` (``nas.evaluators.zerocost``)."""

import json
import math

import pytest
import torch
from torch import nn

from nas.data import search_data
from nas.evaluators import EVALUATORS
from nas.profile import profile
from nas.errors import NasError
from nas.search.run import run_search
from nas.space import load_space
from nas.loops import Recipe
from nas.zerocost import ZeroCostError, nwot, nwot_kernel, squash, synflow
from test_search import table_for, toy_space
from test_search_controllers import controller_cfg


def conv_net(act=lambda: nn.ReLU(inplace=True)):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act(),
                         nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


# --- nwot -------------------------------------------------------------------------------------------------------

def test_nwot_kernel_and_score_by_hand():
    # codes (x > 0): [1, 0], [1, 1], [0, 0]; agreements: K = [[2, 1, 1], [1, 2, 0], [1, 0, 2]], det 8 - 2 - 2
    x = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    net = nn.Sequential(nn.ReLU())
    assert nwot_kernel(net, x).tolist() == [[2, 1, 1], [1, 2, 0], [1, 0, 2]]
    assert nwot(net, x) == pytest.approx(math.log(4.0), rel=1e-12)


def test_nwot_invariant_to_batch_order():
    net, x = conv_net(), torch.randn(12, 3, 16, 16)
    perm = torch.randperm(12)
    a, b = nwot(net, x), nwot(net, x[perm])
    assert math.isfinite(a) and a == pytest.approx(b, rel=1e-9)


def test_nwot_prefers_codes_that_separate_inputs():
    x = torch.randn(8, 16)
    good = nn.Sequential(nn.Linear(16, 64), nn.ReLU())
    bad = nn.Sequential(nn.Linear(16, 64), nn.ReLU())
    with torch.no_grad():  # 60 of 64 units constant (always on): only 4 units tell the images apart
        bad[0].weight[4:] = 0
        bad[0].bias[4:] = 1
    dead = nn.Sequential(nn.Linear(16, 64), nn.ReLU())
    with torch.no_grad():
        dead[0].weight.zero_()
        dead[0].bias.fill_(1)
    assert nwot(good, x) > nwot(bad, x)
    assert nwot(dead, x) == -math.inf  # every image has the same code: K has rank 1
    assert nwot(good, torch.cat([x, x[:1]])) == -math.inf  # a repeated image


def test_nwot_counts_relu6_and_inplace_relus_and_not_hardswish():
    x = torch.randn(6, 3, 16, 16)
    torch.manual_seed(1)
    inplace = conv_net(lambda: nn.ReLU(inplace=True))
    torch.manual_seed(1)
    plain = conv_net(lambda: nn.ReLU(inplace=False))
    torch.manual_seed(1)
    hswish = conv_net(nn.Hardswish)
    assert nwot(inplace, x) == pytest.approx(nwot(plain, x), rel=1e-12)
    assert nwot(hswish, x) != pytest.approx(nwot(plain, x), rel=1e-6)  # only the ReLU6 is counted there
    only_hswish = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Hardswish())
    with pytest.raises(ZeroCostError, match="^nwot: model: expected a network with ReLU-family"):
        nwot(only_hswish, x)


def test_nwot_channels_last_and_leaves_the_model_as_it_was():
    net, x = conv_net(), torch.randn(6, 3, 16, 16)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    score = nwot(net, x)
    assert net.training and all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    net.eval()
    assert nwot(net, x) == pytest.approx(score, rel=1e-12) and not net.training  # BN uses batch stats either way
    cl = net.to(memory_format=torch.channels_last)
    assert nwot(cl, x.to(memory_format=torch.channels_last)) == pytest.approx(score, rel=1e-9)


# --- synflow ----------------------------------------------------------------------------------------------------

def test_synflow_of_a_two_layer_linear_net_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        net[2].weight.copy_(torch.tensor([[-1.0, 2.0]]))
    # |W1| 1 = [3, 7]; R = |W2| [3, 7] = 17; layer 2: sum |w2_j| * 3|7 = 17, layer 1: sum 1*|w2_j| * |w1_jk| = 17
    assert synflow(net, (1, 2)) == pytest.approx(34.0, rel=1e-12)
    assert net[0].weight[0, 1].item() == -2.0 and net[0].weight.dtype == torch.float32  # not changed


def test_synflow_ignores_batchnorm_and_is_layers_times_r_for_a_bias_free_conv_net():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                        nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                        nn.Conv2d(4, 2, 1, bias=False))
    with torch.no_grad():
        net[1].weight.fill_(5.0)
        net[1].running_var.fill_(9.0)
    x = torch.ones(1, 3, 8, 8, dtype=torch.float64)
    for m in net:  # R by hand: |weights|, no BN; the ReLUs pass everything (all values are positive)
        if isinstance(m, nn.Conv2d):
            x = nn.functional.conv2d(x, m.weight.detach().double().abs(), None, m.stride, m.padding)
    assert synflow(net, (1, 3, 8, 8)) == pytest.approx(3 * float(x.sum()), rel=1e-10)


# --- squashing ----------------------------------------------------------------------------------------------------

def test_squash_is_positive_and_rank_preserving():
    assert squash("params", math.e - 1) == pytest.approx(1.0)
    assert squash("nwot", -math.inf, 128) == 0.0
    values = [squash("nwot", s, 64) for s in (-5000.0, -64.0, 0.0, 64.0, 900.0, 1600.0)]
    assert all(v > 0 for v in values[:-1]) and values == sorted(values) and len(set(values)) == len(values)
    assert squash("nwot", 1280.0, 128) == pytest.approx(10.0 + math.log1p(math.exp(-10.0)))
    with pytest.raises(ZeroCostError, match="^evaluator: proxy: expected one of nwot, synflow, params, macs, "
                                            "got 'naswot'$"):
        squash("naswot", 1.0)


# --- the evaluator --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits16():
    return search_data("digits", resolution=16, limit_train=200, limit_val=20)


@pytest.mark.parametrize("space_name", ["fbnet", "mnasnet"])
def test_evaluator_scores_archs_of_the_spaces(digits16, space_name):
    space = load_space(space_name, variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    arch = space.sample(0)
    counts = profile(space.build(arch), (1, 3, 16, 16))
    for proxy in ("nwot", "synflow", "params", "macs"):
        ev = EVALUATORS.get("zerocost")(space, digits16, lambda a: 2.0, Recipe(batch_size=16), proxy=proxy,
                                        repeats=2)
        out = ev(arch)
        assert set(out) == {"accuracy", "score", "latency_ms", "params_m", "macs_m", "eval_s"}
        assert all(math.isfinite(v) and v > 0 for v in out.values()), (proxy, out)
        assert out["accuracy"] == pytest.approx(squash(proxy, out["score"], 16))
        if proxy in ("params", "macs"):
            assert out["score"] == getattr(counts, proxy)
    nwot_ev = EVALUATORS.get("zerocost")(space, digits16, lambda a: 2.0, Recipe(batch_size=16), proxy="nwot",
                                         repeats=2)
    assert nwot_ev(arch)["score"] == nwot_ev(arch)["score"]  # same images, same seeds


def test_evaluator_rejects_bad_options(digits16):
    space = load_space("fbnet", variant="cifar", width_mult=0.25, resolution=16, num_classes=10)
    make = EVALUATORS.get("zerocost")
    with pytest.raises(ZeroCostError, match="^evaluator: proxy: expected one of nwot, synflow, params, macs, "
                                            "got 'jacov'$"):
        make(space, digits16, lambda a: 1.0, Recipe(batch_size=8), proxy="jacov")
    with pytest.raises(ZeroCostError, match="^evaluator: repeats: expected an integer >= 1, got 0$"):
        make(space, digits16, lambda a: 1.0, Recipe(batch_size=8), repeats=0)
    with pytest.raises(ZeroCostError, match="^evaluator: batch_size: expected an integer >= 2"):
        make(space, digits16, lambda a: 1.0, Recipe(batch_size=1))
    assert issubclass(ZeroCostError, NasError)  # python -m nas.search prints it as one line


def test_controller_search_with_the_zerocost_evaluator(tmp_path):
    space_path = toy_space(tmp_path)
    space = load_space(space_path, variant="cifar")
    table = table_for(space, lambda use: 0.05 if use.choice == "skip" else 2.0).save(tmp_path / "table.json")
    cfg = controller_cfg(tmp_path, space_path, table, "method=random", "evaluator=zerocost", "method.budget=3",
                         "evaluator.proxy=synflow")
    summary = run_search(cfg, tmp_path)
    lines = [json.loads(line)["result"] for line in (tmp_path / "run" / "archs.jsonl").read_text().splitlines()]
    assert summary.evaluator == "zerocost" and summary.accuracy_kind.startswith("synflow") and len(lines) == 3
    assert all(r["accuracy"] == pytest.approx(math.log1p(r["score"])) and r["reward"] > 0 for r in lines)
    bad = controller_cfg(tmp_path, space_path, table, "method=random", "evaluator=zerocost", "method.budget=3",
                         "evaluator.proxy=bogus")
    with pytest.raises(NasError, match="evaluator.proxy: expected one of nwot, synflow, params, macs, got 'bogus'"):
        run_search(bad, tmp_path)  # refused with the config, before any work
