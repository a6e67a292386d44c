"""Keep secrets that travel in URLs out of the access log.

Re-run tokens sit in the path (``.../rerun-token/rrt_…``, the SDK's API) and a
WebSocket may pass its key as ``?token=`` or ``?api_key=``; uvicorn's access log
writes the request line as is. This filter masks them before a line is written.
"""

import logging
import re
from typing import Any

_PATTERNS = (
    (re.compile(r"rrt_[A-Za-z0-9_\-]+"), "rrt_***"),
    (
        re.compile(r"((?:token|api_key|apikey|key)=)[^&\s\"']+", re.IGNORECASE),
        r"\1***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks tokens and keys in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def install() -> None:
    """Add the filter to uvicorn's access and error loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
