"""One place that turns every error into JSON ``{code, message, detail, errors}``."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from threadline.api import openapi
from threadline.errors import ThreadlineError

log = logging.getLogger("threadline.api")

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ErrorJSONResponse(JSONResponse):
    """JSON that renders even when a message quotes text with a lone surrogate."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        return text.encode("utf-8", "backslashreplace")


def error_response(
    status: int, code: str, message: str, errors: Any = None, headers: Any = None
) -> JSONResponse:
    """Render the error envelope; ``detail`` repeats ``message`` for FastAPI."""
    body = {"code": code, "message": message, "detail": message, "errors": errors}
    return ErrorJSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


async def _threadline_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ThreadlineError)
    if exc.status >= 500:
        log.error("server error %s: %s", exc.code, exc.message)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": _field(tuple(e.get("loc", ()))),
            "message": e.get("msg", ""),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return error_response(
        422, "validation_error", f"{first['field']}: {first['message']}", errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # The router names only the first route matching the path; list them all.
        methods = openapi.allowed_methods(request.app, request.url.path)
        headers["Allow"] = ", ".join(methods) or headers.get("Allow", "")
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ThreadlineError, _threadline_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
