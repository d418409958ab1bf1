"""Every registered block: shapes at stride 1 and 2, gradients everywhere, no NaN, TorchScript."""

import inspect
import math
import re

import pytest
import torch

from nas.blocks import BLOCKS, create_block

CASES = [(name, i, ex) for name in BLOCKS.names() for i, ex in enumerate(BLOCKS.meta(name)["examples"])]
IDS = [f"{name}-{i}" for name, i, _ in CASES]


def _make(name, example):
    kw = dict(example)
    return BLOCKS.get(name)(kw.pop("in_chs"), kw.pop("out_chs"), kw.pop("stride"), **kw)


@pytest.mark.parametrize("name", BLOCKS.names())
def test_block_signature_and_docs(name):
    cls = BLOCKS.get(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params[:3]] == ["in_chs", "out_chs", "stride"], name
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:]), f"{name}: options must be keyword-only"
    module_doc = inspect.getmodule(cls).__doc__ or ""
    assert re.search(r"(19|20)\d\d", module_doc), f"{name}: module docstring must name its paper (authors and year)"
    strides = {ex["stride"] for ex in BLOCKS.meta(name)["examples"]}
    expected = set(BLOCKS.meta(name).get("strides", (1, 2)))
    assert strides == expected, f"{name}: examples must cover strides {sorted(expected)}, got {sorted(strides)}"


@pytest.mark.parametrize("name,i,example", CASES, ids=IDS)
def test_block_forward_backward(name, i, example):
    block = _make(name, example)
    x = torch.randn(2, example["in_chs"], 9, 9, requires_grad=True)
    y = block(x)
    side = math.ceil(9 / example["stride"])
    assert y.shape == (2, example["out_chs"], side, side)
    assert torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for pname, p in block.named_parameters():
        assert p.grad is not None, f"{name}: parameter {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name,i,example", CASES, ids=IDS)
def test_block_torchscript(name, i, example):
    block = _make(name, example).eval()
    x = torch.randn(1, example["in_chs"], 8, 8)
    ref = block(x)
    scripted = torch.jit.script(block)
    traced = torch.jit.trace(block, x)
    torch.testing.assert_close(scripted(x), ref)
    torch.testing.assert_close(traced(x), ref)


def test_create_block_unknown_lists_known():
    with pytest.raises(KeyError) as err:
        create_block("mbconvv", 8, 8, 1)
    msg = str(err.value)
    assert "unknown block 'mbconvv'" in msg and "mbconv" in msg and "skip" in msg


def test_block_rejects_unknown_option():
    with pytest.raises(TypeError):
        create_block("mbconv", 8, 8, 1, no_such_option=3)
