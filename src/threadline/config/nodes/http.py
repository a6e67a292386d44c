"""The http_request node."""

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class HttpMethod(StrEnum):
    """HTTP methods of the http_request node."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"


class BodyContentType(StrEnum):
    """Request body encodings."""

    JSON = "application/json"
    FORM = "application/x-www-form-urlencoded"
    MULTIPART = "multipart/form-data"
    TEXT = "text/plain"


class ResponseFormat(StrEnum):
    """How the response body is read."""

    JSON = "json"
    TEXT = "text"
    BINARY = "binary"


class HttpRequestNodeConfig(BaseNodeConfig):
    """Calls a REST endpoint and stores the result in a runtime variable."""

    type: Literal["http_request"] = "http_request"
    primary_category: str | None = NodeCategory.REST_API.value
    secondary_category: str | None = NodeCategory.HTTP_REQUEST.value
    url: str | None = None
    method: HttpMethod | None = HttpMethod.GET
    headers: dict[str, Any] | None = None
    query_parameters: str | None = None
    body_parameters: str | None = None
    body_content_type: BodyContentType | None = BodyContentType.JSON
    timeout: int | None = Field(default=30, ge=0, le=300)
    response_format: ResponseFormat | None = ResponseFormat.JSON
    result_runtime_variable_name: str | None = "http_request_result"
