"""Latency sources looked up by name: ``latency.table=<name>`` of a search names a registered source
instead of a table file (``nas.search.run.resolve_table`` consults :data:`LATENCY_SOURCES` first).

A source has what a :class:`~nas.strategies.job.SearchJob` uses of a :class:`~nas.latency.LatencyTable`:
``predict(space, arch, calibrated)``, ``bounds(space, calibrated)``, ``cost_vectors(space, calibrated)``,
``measure(space, archs, allow_mismatch)`` (a :class:`~nas.errors.NasError` when nothing can be timed
here), ``save(path)``, a ``fingerprint`` dict, ``measurable`` (False: ``method.measure_each`` is
refused) and ``from_config(cfg, space)`` that builds it from the search config.

- ``benchmark``: a tabular benchmark's measured latencies (:class:`nas.benchmarks.source.BenchmarkLatency`,
  ``latency.device=<one of the file's devices>``, file at ``benchmark.path``).
"""

from __future__ import annotations

from nas.benchmarks.source import BenchmarkLatency
from nas.registry import Registry

LATENCY_SOURCES = Registry("latency source")
LATENCY_SOURCES.register("benchmark", BenchmarkLatency)
