"""On-device latency lookup tables: build, cache, check, predict, calibrate, validate, import, fit.

>>> from nas.latency import get_table
>>> table = get_table(space, device="cpu", batch_size=1, threads=1)   # measured here or cached
>>> table.predict(space, arch)                                         # ms, calibrated
>>> const, vectors = table.cost_vectors(space)                         # FBNet's per-layer costs
"""

from nas.latency.build import build_table, cache_path, get_table
from nas.latency.calibrate import calibrate_table, conform_calibration, fit_calibration
from nas.latency.errors import LatencyTableError, TableElsewhere
from nas.latency.fingerprint import target_fingerprint
from nas.latency.ops import op_key
from nas.latency.table import Calibration, Entry, LatencyTable, load_table

__all__ = ["Calibration", "Entry", "LatencyTable", "LatencyTableError", "TableElsewhere", "build_table", "cache_path",
           "calibrate_table", "conform_calibration", "fit_calibration", "get_table", "load_table", "op_key", "target_fingerprint"]
