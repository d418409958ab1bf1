"""Superkernel supernets: exact extraction of every candidate, what is shared, zero-init residual gammas."""

import pytest
import torch
from torch import nn

from nas.blocks.mbconv import MBConv
from nas.space import load_space
from nas.supernet import build_supernet
from nas.supernet.superkernel import (SharedConv, SuperKernels, materialize, residual_last_norms, shuffle_order,
                                      slice_weight)


def randomize(model, seed=0):
    """Random BN statistics and affine parameters, random shared weights: equality must hold for any."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, SuperKernels):
                for p in list(m.weights.values()) + list(m.biases.values()):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def distinct_layers(space):
    seen, out = set(), []
    for layer in space.layers:
        key = (layer.in_chs, layer.out_chs, layer.stride)
        if key not in seen and layer.label not in space.fixed:
            seen.add(key)
            out.append(layer)
    return out


@pytest.mark.parametrize("name", ["fbnet", "seeds"])
def test_every_candidate_extracts_exactly(name):
    """Each candidate of each distinct layer shape: the plain block with the sliced weights computes
    exactly the supernet's candidate (eval mode, random BN statistics), with build_op's state_dict keys."""
    space = load_space(name, variant="cifar", width_mult=0.5)
    net = build_supernet(space).eval()
    randomize(net)
    mixed = net.mixed_ops()
    checked = 0
    for layer in distinct_layers(space):
        x = torch.randn(2, layer.in_chs, 8, 8)
        op = mixed[layer.label]
        transition = layer.stride != 1 or layer.in_chs != layer.out_chs  # its skip is a 1x1 projection
        assert op.shared is not None and op.shared.names == [
            n for n in layer.candidates if space.candidates[n]["block"] == "mbconv"] + ["skip"] * transition
        for cand in layer.candidates:
            plain = space.build_op(cand, layer)
            if cand in op.shared.names:
                child = materialize(op.ops[cand], plain).eval()
                checked += 1
            else:
                assert not any(isinstance(m, SharedConv) for m in op.ops[cand].modules())
                child = op.ops[cand]
            assert list(child.state_dict()) == list(plain.state_dict()), (layer.label, cand)
            expected = op.ops[cand](x)
            torch.testing.assert_close(child(x), expected, atol=1e-5, rtol=1e-5)
            assert expected.std() > 0.05
    assert checked == sum(len(op.shared.names) for op in (mixed[l.label] for l in distinct_layers(space)))


def test_whole_children_extract_exactly():
    space = load_space("fbnet", variant="cifar", width_mult=0.25)
    net = build_supernet(space).eval()
    randomize(net)
    x = torch.randn(2, 3, 32, 32)
    for cand in space.candidates:  # every layer takes the same candidate: each candidate in every layer
        arch = space.make_arch({d.label: cand for d in space.decisions})
        expected = net.set_arch(arch)(x)
        child = net.extract(arch).eval()
        assert list(child.state_dict()) == list(space.build(arch).state_dict())
        torch.testing.assert_close(child(x), expected, atol=1e-5, rtol=1e-5)


def test_what_the_candidates_share():
    space = load_space("fbnet", variant="cifar", width_mult=0.5)
    net = build_supernet(space, zero_gamma=False)  # zero gammas would stop the gradient into the branches
    layer = next(l for l in space.layers if l.in_chs == l.out_chs and l.stride == 1 and l.label != "s1.0")
    op = net.mixed_ops()[layer.label]
    kid = {c: materialize(op.ops[c], space.build_op(c, layer)) for c in ("k3_e3", "k5_e6", "k5_e1", "k3_e1_g2")}
    w = op.shared.weights
    mid3 = 3 * layer.in_chs
    # k3 = centre of k5; e3 = leading channels of e6
    torch.testing.assert_close(kid["k3_e3"].conv_dw.conv.weight, w["conv_dw__conv"][:mid3, :, 1:4, 1:4])
    torch.testing.assert_close(kid["k3_e3"].conv_pw.conv.weight, kid["k5_e6"].conv_pw.conv.weight[:mid3])
    torch.testing.assert_close(kid["k3_e3"].conv_pwl.conv.weight, kid["k5_e6"].conv_pwl.conv.weight[:, :mid3])
    # e1 (no expansion conv): the depthwise's leading in_chs channels on the input
    torch.testing.assert_close(kid["k5_e1"].conv_dw.conv.weight, w["conv_dw__conv"][:layer.in_chs])
    # groups 2 (after a channel shuffle): depthwise filters and projection columns of the channel before the
    # shuffle, the projection the block diagonal of the dense one
    g2, half_o, half_i = kid["k3_e1_g2"].conv_pwl.conv.weight, layer.out_chs // 2, layer.in_chs // 2
    order = shuffle_order(layer.in_chs, 2)
    assert order[:4].tolist() == [0, half_i, 1, half_i + 1]
    dense = w["conv_pwl__conv"][:, order]
    torch.testing.assert_close(g2[:half_o], dense[:half_o, :half_i])
    torch.testing.assert_close(g2[half_o:], dense[half_o:layer.out_chs, half_i:layer.in_chs])
    torch.testing.assert_close(kid["k3_e1_g2"].conv_dw.conv.weight, w["conv_dw__conv"][order, :, 1:4, 1:4])
    # a k3 path's gradient reaches only the kernel's centre
    net.train().set_arch(space.make_arch({d.label: "k3_e3" for d in space.decisions}))
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    grad = w["conv_dw__conv"].grad
    assert grad[:mid3, :, 1:4, 1:4].abs().sum() > 0
    assert grad[:, :, 0].abs().sum() == 0 and grad[:, :, :, 4].abs().sum() == 0 and grad[mid3:].abs().sum() == 0


def test_aligned_init_starts_the_candidates_as_one_function():
    """At initialisation k3 and k5 are one function, and so are e3 and e6 (their extra columns are zero);
    a transition layer's skip projection is the leading columns of the shared projection."""
    space = load_space("fbnet", variant="cifar", width_mult=0.5)
    net = build_supernet(space).train()
    layer = next(l for l in space.layers if l.in_chs != l.out_chs)
    op = net.mixed_ops()[layer.label]
    x = torch.randn(4, layer.in_chs, 8, 8)
    torch.testing.assert_close(op.ops["k3_e6"](x), op.ops["k5_e6"](x))
    torch.testing.assert_close(op.ops["k3_e3"](x), op.ops["k3_e6"](x))
    assert not torch.allclose(op.ops["k3_e1"](x), op.ops["k3_e3"](x))
    skip = materialize(op.ops["skip"], space.build_op("skip", layer))
    torch.testing.assert_close(skip.conv.conv.weight, op.shared.weights["conv_pwl__conv"][:, :layer.in_chs])
    plain = build_supernet(space, aligned=False).mixed_ops()[layer.label]
    assert not torch.allclose(plain.ops["k3_e6"](x), plain.ops["k5_e6"](x))


def test_slice_weight_groups_and_centre():
    w = torch.arange(4 * 4 * 3 * 3, dtype=torch.float).view(4, 4, 3, 3)
    g = slice_weight(w, 4, 4, (1, 1), 2, False)
    assert g.shape == (4, 2, 1, 1)
    assert g[:, :, 0, 0].tolist() == [[w[0, 0, 1, 1], w[0, 1, 1, 1]], [w[1, 0, 1, 1], w[1, 1, 1, 1]],
                                      [w[2, 2, 1, 1], w[2, 3, 1, 1]], [w[3, 2, 1, 1], w[3, 3, 1, 1]]]


def test_superkernel_off_keeps_own_weights():
    space = load_space("fbnet", variant="cifar", width_mult=0.25)
    net = build_supernet(space, superkernel=False, zero_gamma=False)
    assert all(m.shared is None for m in net.mixed_ops().values())
    assert not any(isinstance(m, SharedConv) for m in net.modules())
    gammas = [bn.weight for m in net.modules() for bn in residual_last_norms(m)]
    assert gammas and all((g == 1).all() for g in gammas)


@pytest.mark.parametrize("name", ["fbnet", "seeds"])
def test_zero_gamma_makes_residual_blocks_identities(name):
    space = load_space(name, variant="cifar", width_mult=0.25)
    net = build_supernet(space)
    zeroed = 0
    for layer in distinct_layers(space):
        x = torch.randn(2, layer.in_chs, 8, 8)
        for cand, op in net.mixed_ops()[layer.label].ops.items():
            norms = residual_last_norms(op)
            if norms:
                zeroed += 1
                torch.testing.assert_close(op.train()(x), x)
            elif isinstance(op, MBConv):
                assert not op.has_skip and (op.conv_pwl.bn.weight == 1).all(), (layer.label, cand)
    assert zeroed > 0
