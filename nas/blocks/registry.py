"""The block registry.

Every block family registers its classes here with ``examples``: constructor kwargs
(``in_chs``, ``out_chs``, ``stride`` and options) that the registry-wide tests build,
run forward/backward and script. A block maps ``(N, in_chs, H, W)`` to
``(N, out_chs, ceil(H / stride), ceil(W / stride))``.
"""

from nas.registry import Registry

BLOCKS = Registry("block")
