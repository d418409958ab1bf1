"""The supernet registry: one weight-sharing supernet class per search-space type (``space.kind``)."""

from nas.registry import Registry

SUPERNETS = Registry("supernet")
