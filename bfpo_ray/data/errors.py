"""The one exception type for bad data, with a stable reason key for drop statistics."""

from __future__ import annotations


class DataError(ValueError):
    """A data problem, reported in ONE line that names the source (file or hub name) and the record.

    ``reason`` is a short stable key (``"missing_field"``, ``"contradiction"``, ...) that loaders
    use to count dropped records by cause.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(" ".join(message.splitlines()))
        self.reason = reason


def record_error(source: str, index: int, message: str, reason: str) -> DataError:
    """Build the error for record ``index`` of ``source``: ``"<source> record <index>: <message>"``."""
    return DataError(f"{source} record {index}: {message}", reason)
