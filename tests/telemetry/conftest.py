"""Telemetry fixtures: spans kept in memory, the API's fixtures reused."""

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from tests.api.conftest import app_client, llm, runtime, settings, team
from threadline.telemetry import tracing

__all__ = ["app_client", "llm", "runtime", "settings", "team"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, every finished span kept in memory (prompts recorded too)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, content=True)
    yield exporter
    tracing.install(None)
    provider.shutdown()


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def one(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = by_name(finished, name)
    assert len(found) == 1, (name, sorted(s.name for s in finished))
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)
