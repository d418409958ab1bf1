"""Search spaces as validated data files, architectures, and building children.

>>> space = load_space("fbnet", variant="cifar")
>>> arch = space.sample(0)
>>> net = space.build(arch)
"""

from nas.space.arch import Arch
from nas.space.base import ChildNet, Decision, Layer, SearchSpace
from nas.space.errors import SpaceError
from nas.space.loader import SPACE_TYPES, list_spaces, load_arch, load_space
from nas.space import cell as _cell  # noqa: F401  (registers the space types)
from nas.space import factorized as _factorized  # noqa: F401
from nas.space import layerwise as _layerwise  # noqa: F401

__all__ = ["Arch", "ChildNet", "Decision", "Layer", "SPACE_TYPES", "SearchSpace", "SpaceError", "list_spaces",
           "load_arch", "load_space"]
