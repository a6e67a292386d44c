"""What one outbound HTTP call is made of: the call, the policy, the outcome, errors.

Shared by :mod:`threadline.tools.http` (sending) and the modules it is built from
(:mod:`~threadline.tools.addresses`, :mod:`~threadline.tools.http_bodies`,
:mod:`~threadline.tools.curl`). Imports only the standard library.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALLOW_PRIVATE_SETTING",
    "CONTENT_TYPES",
    "FORM",
    "JSON",
    "MAX_TIMEOUT_S",
    "METHODS",
    "MULTIPART",
    "REDACTED",
    "REDIRECT_SAFE_HEADERS",
    "RESPONSE_FORMATS",
    "SENSITIVE_HEADERS",
    "TEXT",
    "BlockedAddress",
    "HttpCall",
    "HttpCallError",
    "HttpOutcome",
    "HttpPolicy",
    "effective_timeout",
]

QUIET_LOGGERS = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "anthropic",
    "google_genai",
    "botocore",
    "urllib3",
)
"""HTTP client libraries that log request URLs, headers or bodies below WARNING.
Tenant URLs and payloads carry secrets (``?token={{global.x}}``), so these loggers
are capped at WARNING whatever the service's log level."""
for _name in QUIET_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
"""Methods an ``http_request`` node may use."""
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
TEXT = "text/plain"
CONTENT_TYPES = (JSON, FORM, MULTIPART, TEXT)
"""Accepted ``body_content_type`` values (parameters such as charset allowed)."""
RESPONSE_FORMATS = ("json", "text", "binary")
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)
"""Headers always redacted in curl commands."""
REDIRECT_SAFE_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent"}
)
"""The only headers of a call that follow a redirect to another origin: any other
header a config set (custom tokens such as ``X-Partner-Token``, templated values,
credentials) stays with the origin it was written for."""
REDACTED = "[REDACTED]"
ALLOW_PRIVATE_SETTING = "THREADLINE_HTTP_ALLOW_PRIVATE=1"
MAX_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class HttpCall:
    """One outbound request, after templating."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    content_type: str = JSON
    timeout_s: float = 30.0
    response_format: str = "json"  # json | text | binary


@dataclass(frozen=True)
class HttpOutcome:
    """What happened. ``success`` is True only for a complete 2xx response."""

    success: bool
    status_code: int | None
    data: Any
    headers: dict[str, str]
    error: str | None
    latency_ms: float
    curl_command: str
    note: str | None = None
    """Non-fatal remark, e.g. that a ``json`` response was not JSON."""


@dataclass(frozen=True)
class HttpPolicy:
    """Deployment-wide limits (``allow_private`` <- THREADLINE_HTTP_ALLOW_PRIVATE).

    ``allowed_hosts`` are host names or IP addresses (lower-case, IPv6 without
    brackets) the operator lets through the SSRF guard although they are private
    (``THREADLINE_LLM_ALLOWED_HOSTS`` for tenant LLM endpoints).
    """

    allow_private: bool = False
    max_response_bytes: int = 5_000_000
    max_redirects: int = 5
    allowed_hosts: frozenset[str] = frozenset()


class HttpCallError(Exception):
    """The call cannot be made as specified (bad URL, method, format...)."""


class BlockedAddress(HttpCallError):
    """The SSRF guard refused the URL's scheme or address."""


def effective_timeout(call: HttpCall) -> float:
    """``call.timeout_s`` capped at 300 s; 0 or below means the 300 s maximum."""
    t = float(call.timeout_s)
    return MAX_TIMEOUT_S if t <= 0 else min(t, MAX_TIMEOUT_S)
