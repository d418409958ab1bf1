"""The one error type of the export room: names the file (or object), the key and what was expected."""

from nas.errors import NasError


class ExportError(NasError):
    """A network, checkpoint or output location that cannot be exported as asked."""

    show_got = str
