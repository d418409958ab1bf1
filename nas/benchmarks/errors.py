"""The error of the benchmark readers: names the file, the key and what was expected."""

from nas.errors import NasError


class BenchmarkError(NasError):
    """A benchmark file that is missing or malformed, or a query it cannot answer."""
