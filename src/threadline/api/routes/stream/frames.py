"""What both streaming transports share: the app's store and runtime, and what a
client may see of an error."""

import logging
from typing import Any

from starlette.requests import HTTPConnection

from threadline.errors import (
    ThreadlineError,
)
from threadline.ids import is_object_id
from threadline.service.runtime import Runtime
from threadline.store import Store

log = logging.getLogger("threadline.api.stream")


def runtime_of(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime


def store_of(conn: HTTPConnection) -> Store:
    store: Store = conn.app.state.store
    return store


def public_error(error: Exception) -> ThreadlineError:
    """What a client may see of a turn's error (5xx details are logged only)."""
    if isinstance(error, ThreadlineError) and error.status < 500:
        return error
    log.error("streamed turn failed", exc_info=error)
    return ThreadlineError("internal server error", code="internal_error")


def is_run_id(value: Any) -> bool:
    return isinstance(value, str) and is_object_id(value)
