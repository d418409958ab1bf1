"""Tabular NAS benchmarks: ground-truth accuracy and measured latency of every architecture of a space.

>>> bench = NB201Bench()                  # ../shared/datasets/nas-bench-201-hw/nb201_hw.npz, or a path
>>> i = bench.index(space.to_string(arch))
>>> bench.accuracy("cifar10", [i]), bench.latency("pixel3", [i])
"""

from nas.benchmarks.errors import BenchmarkError
from nas.benchmarks.nb201 import NB201Bench

__all__ = ["BenchmarkError", "NB201Bench"]
