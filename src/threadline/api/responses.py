"""JSON responses encoded once, with orjson, and not validated again.

A route that returns a plain ``dict`` has FastAPI validate it against the route's
``response_model`` (a copy of the dict) and then encode it. The hot routes (execute
a turn, read a run, list runs) return :class:`JsonBytes` instead: FastAPI sends a
returned ``Response`` as it is, so the body the service built is encoded once, by
orjson. Those routes still declare ``response_model`` (``JsonBody``), so ``/docs``
and ``/openapi.json`` describe their answers exactly as before.

The bytes are what FastAPI's own encoder would have sent: UTC datetimes end in
``Z``, non-string keys become strings, sets become lists, NaN and infinities
``null``. Anything orjson cannot encode (an integer beyond 64 bits, an unknown
type) goes through pydantic's encoder, FastAPI's own.
"""

from typing import Any

import orjson
from fastapi import Response
from pydantic import TypeAdapter

JSON_TYPE = "application/json"
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(type(value).__name__)


def encode(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON (orjson; pydantic for what it refuses)."""
    try:
        return orjson.dumps(content, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _ANY.dump_json(content)


class JsonBytes(Response):
    """A JSON response encoded by :func:`encode`."""

    media_type = JSON_TYPE

    def render(self, content: Any) -> bytes:
        return encode(content)
