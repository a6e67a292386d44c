"""JSON text for the store's columns and packed rows: orjson, with ``json.dumps``
for what orjson refuses.

orjson encodes in a tenth of ``json.dumps``'s time. What it refuses (a key that is
not a string, an integer beyond 64 bits, a value of an unknown type, a datetime)
is written by ``json.dumps`` as before, so the stored text and any error are what
they were. NaN and infinities, which PostgreSQL's ``json`` type does not accept as
``json.dumps`` writes them, are written ``null``, as the API sends them. Text is
still read by ``json.loads``: orjson would read an integer beyond 64 bits as a
float, and checking the text for one first costs more than it saves.
"""

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> str:
    """A JSON column's value as text (the engines' ``json_serializer``)."""
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def compact(value: Any) -> bytes:
    """Compact UTF-8 JSON (``separators=(",", ":")``, ``ensure_ascii=False``)."""
    try:
        return orjson.dumps(value, default=_refuse, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
