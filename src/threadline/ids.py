"""ObjectId-style 24-hex identifiers, generated without MongoDB.

Layout follows BSON ObjectId: 4-byte big-endian seconds, 5 random bytes chosen once
per process, 3-byte counter. Ids are roughly time-ordered, which helps index locality.
"""

import os
import re
import threading
import time
import uuid

OBJECT_ID_PATTERN = r"^[0-9a-f]{24}$"
_OBJECT_ID_RE = re.compile(OBJECT_ID_PATTERN)

_lock = threading.Lock()
_process_random = os.urandom(5)
_counter = int.from_bytes(os.urandom(3), "big")


def new_object_id(now: float | None = None) -> str:
    """Return a fresh 24-hex id; ``now`` (epoch seconds) is for reproducible tests."""
    global _counter
    seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
    with _lock:
        _counter = (_counter + 1) & 0xFFFFFF
        counter = _counter
    raw = seconds.to_bytes(4, "big") + _process_random + counter.to_bytes(3, "big")
    return raw.hex()


def is_object_id(value: object) -> bool:
    """Tell whether ``value`` is exactly a 24-character lowercase hex string.

    ``fullmatch``: ``match`` with ``$`` would also accept a trailing newline, which the
    API's path and query patterns (pydantic's regex engine) refuse.
    """
    return isinstance(value, str) and _OBJECT_ID_RE.fullmatch(value) is not None


def new_logical_id(prefix: str) -> str:
    """Return a logical id such as ``node_<uuid4>`` (Interactly's prefixes)."""
    return f"{prefix}_{uuid.uuid4()}"
