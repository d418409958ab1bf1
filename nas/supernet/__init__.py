"""Weight-sharing supernets, one per search-space type, built by :func:`build_supernet`.

A space is plain data and never builds its own supernet: ``build_supernet(space)`` looks the class
up by ``space.kind`` (``layerwise``: :class:`~nas.supernet.layerwise.Supernet` with soft / hard /
fixed modes; ``factorized``: :class:`~nas.supernet.elastic.ElasticSupernet`, fixed paths only; ``cell``:
:class:`~nas.supernet.cell.CellSupernet`, soft / hard (GDAS) / fixed, theta shared by every cell).
Adding a space type means one file in ``nas/space/`` and one here, registered under the same name.

>>> net = build_supernet(load_space("fbnet", variant="cifar")).set_mode("hard", tau=5.0)
>>> child = net.extract(arch)  # a plain nn.Module with the shared weights
"""

from __future__ import annotations

import inspect
from typing import Tuple

from nas.supernet.registry import SUPERNETS
from nas.supernet import cell as _cell  # noqa: F401  (registers the supernets)
from nas.supernet import elastic as _elastic  # noqa: F401
from nas.supernet import layerwise as _layerwise  # noqa: F401
from nas.supernet.cell import CellSupernet
from nas.supernet.elastic import ElasticSupernet
from nas.supernet.layerwise import MODES, MixedOp, Supernet


def supernet_modes(space) -> Tuple[str, ...]:
    """The training modes the supernet of ``space`` offers (``soft``, ``hard``, ``fixed``)."""
    return tuple(SUPERNETS.meta(space.kind)["modes"])


def build_supernet(space, **options):
    """The weight-sharing supernet of ``space`` (freshly initialised). ``options`` (e.g. ``superkernel``,
    ``zero_gamma`` of the layer-wise supernet) that this space type's supernet does not take are ignored:
    they are defaults of the ``supernet`` config section, which every space type shares."""
    cls = SUPERNETS.get(space.kind)
    takes = inspect.signature(cls.__init__).parameters
    return cls(space, **{k: v for k, v in options.items() if k in takes})


__all__ = ["CellSupernet", "ElasticSupernet", "MODES", "MixedOp", "SUPERNETS", "Supernet", "build_supernet", "supernet_modes"]
