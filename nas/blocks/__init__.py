"""Building blocks of the seed papers, one family per module, all registered in ``BLOCKS``.

Every block takes ``(in_chs, out_chs, stride, *, kernel_size, exp_ratio, se_ratio, act, groups, ...)``
(the options a family has no use for are not accepted) and uses timm's submodule vocabulary
(``conv_pw``, ``conv_dw``, ``se``, ``conv_pwl``) so state_dicts of a supernet and its children share keys.
"""

import importlib
import pkgutil

from nas.blocks.registry import BLOCKS

# Each module in this package is one block family; importing it registers its blocks.
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
    if _info.name != "registry":
        importlib.import_module(f"{__name__}.{_info.name}")


def create_block(name: str, in_chs: int, out_chs: int, stride: int = 1, **kwargs):
    """Build a registered block by name; unknown names list the known ones."""
    return BLOCKS.get(name)(in_chs, out_chs, stride, **kwargs)


__all__ = ["BLOCKS", "create_block"]
