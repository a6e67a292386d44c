"""OpenTelemetry traces, configured by the standard ``OTEL_*`` variables.

Off by default: ``configure()`` installs a tracer only when
``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``, or both,
comma-separated) and ``OTEL_SDK_DISABLED`` is not ``true``. While off, ``span()``
returns one shared do-nothing handle: no OpenTelemetry call is made at all.

- ``otlp`` sends over HTTP (``http/protobuf``, the default) or gRPC (``grpc``),
  per ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``;
  the exporters read their endpoint, headers and timeouts themselves
  (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...).
- ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` name the service
  (default ``threadline``); ``OTEL_TRACES_SAMPLER`` / ``_ARG`` choose the sampler.

Our tracer provider is our own, not the global one (``install`` swaps it, tests
pass one with an in-memory exporter). Every string attribute passes through
``context.scrub`` (the bound secret values, API keys): no span carries a secret.
Prompts and completions are recorded only when ``capture_content`` is on
(``THREADLINE_TRACE_CONTENT=1``).
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from threadline.telemetry.context import scrub

AttrValue = str | bool | int | float
_PROPAGATOR = TraceContextTextMapPropagator()
CLIENT = SpanKind.CLIENT
SERVER = SpanKind.SERVER
INTERNAL = SpanKind.INTERNAL
_MAX_ATTR_CHARS = 4096


@dataclass
class _State:
    tracer: trace.Tracer | None = None
    provider: Any = None
    capture_content: bool = False


_STATE = _State()


def enabled() -> bool:
    """True when spans are recorded."""
    return _STATE.tracer is not None


def capture_content() -> bool:
    """True when prompts and completions may go into spans."""
    return _STATE.tracer is not None and _STATE.capture_content


def install(provider: Any, *, content: bool = False) -> None:
    """Use ``provider`` (an SDK ``TracerProvider``; None: tracing off)."""
    _STATE.provider = provider
    _STATE.tracer = None if provider is None else provider.get_tracer("threadline")
    _STATE.capture_content = content


def exporters(names: list[str], environ: Mapping[str, str]) -> list[Any]:
    """The span exporters ``OTEL_TRACES_EXPORTER``'s ``names`` ask for."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    found: list[Any] = []
    for name in names:
        if name == "console":
            found.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            )
            if protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter as GrpcExporter,
                )

                found.append(GrpcExporter())
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter as HttpExporter,
                )

                found.append(HttpExporter())
        elif name != "none":
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} "
                "(use otlp, console or none)"
            )
    return found


def configure(
    *, content: bool = False, environ: Mapping[str, str] | None = None
) -> bool:
    """Set tracing up from the ``OTEL_*`` variables; return whether it is on."""
    env = os.environ if environ is None else environ
    names = [
        n.strip().lower()
        for n in env.get("OTEL_TRACES_EXPORTER", "").split(",")
        if n.strip()
    ]
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    chosen = [] if disabled else exporters(names, env)
    if not chosen:
        install(None)
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or "threadline"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider, content=content)
    return True


def service_name() -> str | None:
    """The ``service.name`` spans are reported under (None: tracing off)."""
    resource = getattr(_STATE.provider, "resource", None)
    if resource is None:
        return None
    return str(resource.attributes.get("service.name"))


def shutdown() -> None:
    """Flush and stop the exporters (at process exit)."""
    provider = _STATE.provider
    if provider is not None and hasattr(provider, "shutdown"):
        provider.shutdown()


def _clean(value: Any) -> AttrValue:
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return scrub(text[:_MAX_ATTR_CHARS])


class SpanHandle:
    """One span; attributes are scrubbed of secrets."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def set(self, key: str, value: Any) -> None:
        """Set one attribute (None: skipped)."""
        if value is not None:
            self.span.set_attribute(key, _clean(value))

    def set_many(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.set(key, value)

    def content(self, key: str, value: Any) -> None:
        """A prompt or completion: set only under ``THREADLINE_TRACE_CONTENT``."""
        if _STATE.capture_content:
            self.set(key, value)

    def fail(self, message: str, error_type: str | None = None) -> None:
        """Mark the span failed (status ERROR, ``error.type``)."""
        self.span.set_status(Status(StatusCode.ERROR, scrub(message[:500])))
        if error_type:
            self.span.set_attribute("error.type", error_type)


class _NoSpan(SpanHandle):
    __slots__ = ()

    def set(self, key: str, value: Any) -> None:
        return None

    def fail(self, message: str, error_type: str | None = None) -> None:
        return None


_NO_SPAN = _NoSpan(trace.INVALID_SPAN)


@contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    leaf: bool = False,
) -> Iterator[SpanHandle]:
    """A span around the block (current inside it unless ``leaf``); a no-op while
    tracing is off.

    An exception leaving the block marks the span failed (not its message: it may
    hold data the span must not)."""
    tracer = _STATE.tracer
    if tracer is None:
        yield _NO_SPAN
        return
    opened = (
        tracer.start_span(name, context=parent, kind=kind, record_exception=False)
        if leaf
        else tracer.start_as_current_span(
            name, context=parent, kind=kind, record_exception=False
        )
    )
    with opened as current:
        handle = SpanHandle(current)
        if attributes:
            handle.set_many(attributes)
        try:
            yield handle
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                current.set_attribute("error.type", type(exc).__name__)
            raise


def in_span() -> bool:
    """True when a recording span is current (e.g. the turn path)."""
    return _STATE.tracer is not None and trace.get_current_span().is_recording()


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None: no trace)."""
    if _STATE.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) to add to an outbound request."""
    if _STATE.tracer is None:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier


def parent_from(carrier: Mapping[str, str] | str | None) -> Context | None:
    """The context carried by headers or a stored ``traceparent`` (None: none)."""
    if _STATE.tracer is None or not carrier:
        return None
    found = {"traceparent": carrier} if isinstance(carrier, str) else dict(carrier)
    if "traceparent" not in found:
        return None
    return _PROPAGATOR.extract(found)


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, for log lines."""
    if _STATE.tracer is None:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
