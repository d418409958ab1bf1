"""The model registry: hand-designed baselines, each with the figures its paper reports."""

from nas.registry import Registry

MODELS = Registry("model")


def register_model(name: str, *, params: float, macs: float, resolution: int = 224, source: str):
    """Register a builder ``fn(num_classes=1000, variant='imagenet', **kwargs) -> nn.Module``.

    ``params`` and ``macs`` are the paper's (or the authors' released code's) figures in millions at
    ``resolution``; ``source`` names the table they come from. Tests hold every model to them
    (params within 2%, multiply-adds within 3%).
    """
    return MODELS.register(name, params=params, macs=macs, resolution=resolution, source=source)
