"""What the current work is about, for log lines and spans (context variables).

``bind(run_id=..., turn=..., command_id=..., secrets=...)`` sets the fields for the
current task and the tasks it starts; ``scrub(text)`` replaces every secret value
bound there (and API keys, bearer tokens, re-run tokens) with ``***``. The turn
driver binds the secret values of the turn's team, so a log line, a span attribute
or an error message of that turn never carries one.
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar(
    "threadline_log_fields", default=_EMPTY
)
_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("threadline_secrets", default=())

# Shapes of credentials that may appear in any text: our API keys (``tl_…``),
# bearer tokens, re-run tokens, keys in query strings.
_PATTERNS = (
    (re.compile(r"\btl_[A-Za-z0-9_\-]{8,}"), "tl_***"),
    (re.compile(r"rrt_[A-Za-z0-9_\-]+"), "rrt_***"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(r"(?i)((?:token|api_key|apikey|key)=)[^&\s\"']+"), r"\1***"),
)
_MIN_SECRET_CHARS = 4
"""Shorter secret values are not scrubbed from text (they would mangle it)."""


def fields() -> Mapping[str, Any]:
    """The fields bound for the current work (``run_id``, ``turn``, ...)."""
    return _FIELDS.get()


def secret_values() -> tuple[str, ...]:
    """The secret values bound for the current work."""
    return _SECRETS.get()


@contextmanager
def bind(secrets: tuple[str, ...] | None = None, **values: Any) -> Iterator[None]:
    """Add ``values`` (and ``secrets``) to the current context for the block."""
    token = _FIELDS.set({**_FIELDS.get(), **values})
    held = None
    if secrets is not None:
        held = _SECRETS.set(
            tuple(
                sorted(
                    {*_SECRETS.get(), *(s for s in secrets if s)}, key=len, reverse=True
                )
            )
        )
    try:
        yield
    finally:
        if held is not None:
            _SECRETS.reset(held)
        _FIELDS.reset(token)


def scrub(text: str) -> str:
    """``text`` without the bound secret values or credential-shaped tokens."""
    for secret in _SECRETS.get():
        if len(secret) >= _MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
