"""Every registered baseline: paper-sized at its native resolution, and a trainable CIFAR form."""

import pytest
import torch

from nas.models import MODELS, create_model, list_models, model_resolution
from nas.profile import profile

NAMES = list_models()


def test_registry_has_models():
    assert len(NAMES) > 0


@pytest.mark.parametrize("name", NAMES)
def test_counts_match_paper(name):
    """Params within 2% and multiply-adds within 3% of the figures the model registers (on meta: no compute)."""
    meta = MODELS.meta(name)
    res = model_resolution(name)
    with torch.device("meta"):
        model = create_model(name)
    p = profile(model, (1, 3, res, res))
    assert p.params / 1e6 == pytest.approx(meta["params"], rel=0.02), f"{name}: {p} vs paper {meta}"
    assert p.macs / 1e6 == pytest.approx(meta["macs"], rel=0.03), f"{name}: {p} vs paper {meta}"
    assert model(torch.zeros(2, 3, res, res, device="meta")).shape == (2, 1000)


@pytest.mark.parametrize("name", NAMES)
def test_cifar_form_trains(name):
    model = create_model(name, num_classes=10, variant="cifar").train()
    x = torch.randn(2, 3, 32, 32)
    y = model(x)
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    torch.nn.functional.cross_entropy(y, torch.tensor([1, 7])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_unknown_model_lists_known():
    with pytest.raises(KeyError) as err:
        create_model("mobilenetv2_10")
    assert "mobilenetv2_100" in str(err.value) and "known models" in str(err.value)


def test_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        create_model(NAMES[0], variant="mnist")
