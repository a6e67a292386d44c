"""Retries and failures of a pydantic-ai call (``pai``): which errors are retried,
after how long, and what error the caller gets.

408/409/429/5xx answers, timeouts and connection errors are retried with
exponential backoff (``Backoff``), honouring a provider's ``retry-after`` within
the cap; an authentication error or another 4xx is final, and so is the SSRF
guard's refusal, wherever an SDK wrapped it. Every message names provider, URL and
model, with key values redacted.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pydantic_ai import exceptions as pai_errors

from threadline.errors import AddressRefused
from threadline.providers.base import LLMError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts: ``base_s * 2**n``, capped."""

    base_s: float = 0.5
    max_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        delay = self.base_s * (2**attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(min(delay, self.max_s))


def failure_of(
    exc: Exception,
    provider: str,
    url: str | None,
    model: str,
    redact: Callable[[str], str],
) -> tuple[LLMError, bool, float | None]:
    """Our error for ``exc`` (key values redacted by ``redact``), whether to
    retry, and the provider's retry-after."""
    refused = refusal_in(exc)
    if refused is not None:  # the SSRF guard: final, and said plainly
        message = redact(f"{provider} LLM call to {url} refused: {refused.message}")
        details = {"provider": provider, "url": url, "status": None}
        return (
            LLMError(message, code="llm_address_refused", details=details),
            False,
            None,
        )
    status = getattr(exc, "status_code", None)
    retry_after = getattr(exc, "retry_after", None)
    code, retryable = "llm_error", False
    if isinstance(exc, pai_errors.ModelAuthenticationError) or status in (401, 403):
        code = "llm_auth_error"
    elif isinstance(
        exc,
        pai_errors.ModelTimeoutError
        | pai_errors.ModelRequestTimeout
        | asyncio.TimeoutError,
    ):
        code, retryable = "llm_timeout", True
    elif status is not None:
        retryable = status in RETRY_STATUSES or status >= 500
    elif isinstance(
        exc,
        pai_errors.ModelConnectionError
        | pai_errors.ModelRateLimitError
        | pai_errors.ModelUnavailableError
        | pai_errors.ModelServerError,
    ):
        retryable = True
    detail = detail_of(exc)
    message = redact(
        f"{provider} LLM call to {url or '(default endpoint)'} "
        f"(model {model!r}) failed: {detail}"
    )
    details = {"provider": provider, "url": url, "status": status}
    return LLMError(message, code=code, details=details), retryable, retry_after


def refusal_in(exc: BaseException) -> AddressRefused | None:
    """The SSRF guard's refusal somewhere in ``exc``'s chain (SDKs wrap it)."""
    seen: BaseException | None = exc
    for _ in range(12):
        if seen is None:
            return None
        if isinstance(seen, AddressRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def detail_of(exc: Exception) -> str:
    """What a provider's error says, with its HTTP status, cut to 500 characters."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        text = error.get("message") if isinstance(error, dict) else None
        text = text or body.get("message") or str(body)
    elif body is not None:
        text = str(body)
    else:
        text = str(exc) or type(exc).__name__
    text = str(text)[:500]
    return f"HTTP {status}: {text}" if status is not None else text
