"""The one error type of the space room: names the file, the key and what was expected."""

from nas.errors import NasError


class SpaceError(NasError):
    """A search-space file or an architecture that does not fit its space."""
