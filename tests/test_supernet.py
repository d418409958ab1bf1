"""Weight-sharing supernets: soft / hard / fixed modes, parameter groups, extraction equality."""

import pytest
import torch
import torch.nn.functional as F

from nas.space import load_space
from nas.supernet import MixedOp
from nas.supernet import build_supernet


def _randomize_norms(model):
    """Non-trivial BN statistics and a wide classifier, so equality checks mean something."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.5, generator=g)


def _step(net, x, y):
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()


@pytest.fixture
def batch():
    return torch.randn(2, 3, 32, 32), torch.tensor([1, 3])


@pytest.mark.parametrize("name", ["fbnet", "seeds"])
def test_soft_mode_trains_every_candidate(name, batch):
    space = load_space(name, variant="cifar", width_mult=0.25)
    net = build_supernet(space).set_mode("soft", tau=5.0)
    _step(net, *batch)
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    assert not no_grad, no_grad[:5]
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert len(net.arch_parameters()) == len(space.decisions)
    weights = {id(p) for p in net.weight_parameters()}
    assert not weights & {id(t) for t in net.arch_parameters()}
    assert len(weights) + len(net.arch_parameters()) == len(list(net.parameters()))


@pytest.mark.parametrize("name", ["fbnet", "seeds"])
def test_hard_mode_runs_one_path(name, batch):
    space = load_space(name, variant="cifar", width_mult=0.25)
    net = build_supernet(space).set_mode("hard", tau=1.0)
    torch.manual_seed(3)
    _step(net, *batch)
    arch = net.sampled_arch()
    for label, mixed in net.mixed_ops().items():
        assert mixed.theta.grad is not None and mixed.theta.grad.abs().sum() > 0, label
        for cand, op in mixed.ops.items():
            grads = [p.grad is not None for p in op.parameters()]
            if cand == arch.choices[label]:
                assert all(grads), (label, cand)
            else:
                assert not any(grads), (label, cand)
    # the hard path's value is the sampled child's (the straight-through weight is exactly 1)
    net.eval()
    torch.manual_seed(5)
    y_hard = net(batch[0])
    arch = net.sampled_arch()
    torch.testing.assert_close(y_hard, net.set_arch(arch)(batch[0]))


@pytest.mark.parametrize("name", ["fbnet", "seeds", "mnasnet"])
def test_extracted_child_equals_fixed_path(name):
    space = load_space(name, variant="cifar", width_mult=0.5)
    net = build_supernet(space)
    _randomize_norms(net)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    for seed in range(3):
        arch = space.sample(seed)
        expected = net.set_arch(arch)(x)
        child = net.extract(arch).eval()
        assert type(child) is type(space.build(arch))
        assert [k for k in child.state_dict()] == [k for k in space.build(arch).state_dict()]
        torch.testing.assert_close(child(x), expected, atol=1e-5, rtol=1e-5)
        assert expected.std() > 0.1


def test_fixed_mode_uses_the_arch(batch):
    space = load_space("fbnet", variant="cifar", width_mult=0.25)
    net = build_supernet(space)
    arch = space.sample(0)
    net.set_arch(arch)
    _step(net, *batch)
    assert net.sampled_arch() == arch
    for label, mixed in net.mixed_ops().items():
        used = [c for c, op in mixed.ops.items() if any(p.grad is not None for p in op.parameters())]
        assert used in ([arch.choices[label]], [])  # parameter-free ops (identity skip) have nothing to show


def test_derive_and_probabilities():
    space = load_space("fbnet", variant="cifar", width_mult=0.25)
    net = build_supernet(space)
    with torch.no_grad():
        for mixed in net.mixed_ops().values():
            mixed.theta[mixed.names.index("k5_e6")] = 3.0
    assert set(net.derive().choices.values()) == {"k5_e6"}
    probs = net.probabilities()
    assert all(abs(float(p.sum()) - 1) < 1e-6 for p in probs.values())


def test_bad_mode():
    net = build_supernet(load_space("fbnet", variant="cifar", width_mult=0.25))
    with pytest.raises(ValueError, match="soft, hard, fixed"):
        net.set_mode("gumbel")
    mn = build_supernet(load_space("mnasnet", variant="cifar", width_mult=0.5))
    with pytest.raises(ValueError, match="fixed paths only"):
        mn.set_mode("soft")


def test_mnasnet_supernet_trains_every_candidate(batch):
    """Each (conv op, kernel, SE) candidate of every slot, widest and deepest, with the pool shortcut."""
    space = load_space("mnasnet", variant="cifar", width_mult=0.5)
    net = build_supernet(space)
    widest = {d.label: d.choices[-1] for d in space.decisions if d.label.endswith(("filter_mult", "layers_delta"))}
    seen = set()
    for conv_op in space.options["conv_op"]:
        for k in space.options["kernel_size"]:
            for se in space.options["se_ratio"]:
                per_block = {"conv_op": conv_op, "kernel_size": k, "se_ratio": se, "skip_op": "pool"}
                arch = space.make_arch({**widest, **{f"b{i + 1}.{n}": v for i in range(len(space.blocks))
                                                     for n, v in per_block.items()}})
                net.set_arch(arch)
                _step(net, *batch)
                for slot in (s for stage in net.stages for s in stage):
                    op = slot.ops[slot.key]
                    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in op.parameters())
                    seen.add(id(op))
    n_slots = sum(len(stage) for stage in net.stages)
    assert len(seen) == n_slots * 16


def test_mixed_op_rejects_nothing_silently():
    op = MixedOp({"a": torch.nn.Identity(), "b": torch.nn.Identity()})
    op.mode = "soft"
    x = torch.ones(1, 2, 2, 2)
    torch.testing.assert_close(op(x), x)  # weights sum to one
