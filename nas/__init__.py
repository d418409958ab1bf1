"""Hardware-aware neural architecture search for PyTorch.

The package is organised as a one-way pipeline:
layers -> blocks -> space/builder -> supernet -> latency -> strategies -> export/report -> CLI.
"""

__version__ = "0.1.0"
