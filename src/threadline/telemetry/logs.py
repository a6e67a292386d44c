"""Log output: plain text (the default) or one JSON object per line.

``THREADLINE_LOG_FORMAT=json`` gives lines like::

    {"time": "2026-12-06T14:00:00.123Z", "level": "INFO", "logger": "threadline.turns",
     "message": "...", "run_id": "...", "turn": 3, "command_id": "...",
     "trace_id": "...", "span_id": "..."}

``run_id``, ``turn`` and ``command_id`` come from ``context.bind`` (the turn driver
binds them), ``trace_id``/``span_id`` from the current span when tracing is on.
Either format passes the message (and an exception's text) through
``context.scrub``: the secret values bound for the work at hand, API keys, bearer
and re-run tokens never reach a log line.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from threadline.telemetry import context, tracing

_HANDLER_MARK = "_threadline_handler"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = dict(context.fields())
    ids = tracing.current_ids()
    if ids is not None:
        found["trace_id"], found["span_id"] = ids
    return found


class ScrubFilter(logging.Filter):
    """Renders the message once, scrubbed; attaches the context's fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is
            message = str(record.msg)
        record.msg = context.scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = context.scrub(record.exc_text)
        record.exc_info = None
        record.threadline = _fields(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "threadline", None) or _fields(record))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def handler(fmt: str, stream: Any = None) -> logging.Handler:
    """A stream handler writing ``fmt`` (``json`` or ``text``), scrubbed."""
    out = logging.StreamHandler(stream)
    if fmt == "json":
        out.setFormatter(JsonFormatter())
    else:
        out.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    out.addFilter(ScrubFilter())
    setattr(out, _HANDLER_MARK, True)
    return out


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send the root logger (and uvicorn's) through one scrubbed handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler(fmt))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def uvicorn_log_config() -> dict[str, Any]:
    """A uvicorn ``log_config`` that leaves its loggers to the root's handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
