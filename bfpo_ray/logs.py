"""Console logging for the command line: one format, and hub retries collapsed into one line.

Without network access every hub download retries five times, and huggingface_hub logs two lines per
try (22 in all per file). :class:`HubRetryFilter` keeps the first as one line and drops the rest.
"""

from __future__ import annotations

import logging

HUB_HTTP_LOGGER = "huggingface_hub.utils._http"


class HubRetryFilter(logging.Filter):
    """Let one line through per process for a hub request that is being retried; drop the others."""

    def __init__(self) -> None:
        super().__init__()
        self.reported = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "thrown while requesting" not in message and not message.startswith("Retrying in"):
            return True
        if self.reported:
            return False
        self.reported = True
        url = message.rsplit(" ", 1)[-1] if "thrown while requesting" in message else "the hub"
        record.msg, record.args = "cannot reach %s (%s); retrying a few times before giving up", (
            url, message.split("'")[1] if message.startswith("'") else "network error")
        return True


def setup_logging(level: int = logging.INFO) -> None:
    """Root logging to stderr with timestamps; hub retries as one line."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hub = logging.getLogger(HUB_HTTP_LOGGER)
    if not any(isinstance(f, HubRetryFilter) for f in hub.filters):
        hub.addFilter(HubRetryFilter())
