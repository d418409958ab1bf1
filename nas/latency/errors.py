"""The one error type of the latency room: every problem a user can cause (a corrupt or foreign table,
a missing entry, a fingerprint that does not match the target, missing data) names the file, the key
and what was expected."""

from __future__ import annotations

from nas.errors import NasError


class LatencyTableError(NasError):
    """A latency table (or its inputs) that cannot serve the request; the message says why."""


class TableElsewhere(LatencyTableError):
    """A table measured on another target (device, runtime, threads, ...) than the one asked for;
    ``differences`` says how, one ``field: table has ..., target is ...`` per field."""

    def __init__(self, message: str, differences: str):
        super().__init__(message)
        self.differences = differences
