"""A search (or an app) on one runtime refuses a table timed in another."""

from __future__ import annotations

from nas.latency.errors import LatencyTableError
from nas.latency.fingerprint import table_runtime


def check_runtime(table, runtime: str) -> None:
    """One line when ``table`` was not timed in ``runtime`` (a table without the field is eager's)."""
    have = table_runtime(table.fingerprint)
    if have != runtime:
        fp = table.fingerprint
        version = f" {fp.get('runtime_version')}" if fp.get("runtime_version") else ""
        raise LatencyTableError(f"{table.where}: fingerprint.runtime: expected {runtime!r} (latency.runtime), got "
                                f"{have!r}{version} {fp.get('dtype')}; use a table timed in {runtime} or set "
                                f"latency.runtime={have}")
