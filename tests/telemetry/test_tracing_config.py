"""Tracing is configured by the standard OTEL_* variables, and off by default."""

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from threadline.telemetry import tracing


@pytest.fixture(autouse=True)
def _off_afterwards() -> Iterator[None]:
    yield
    tracing.shutdown()
    tracing.install(None)


def test_tracing_is_off_unless_an_exporter_is_named():
    assert tracing.configure(environ={}) is False
    assert not tracing.enabled()
    assert tracing.traceparent() is None and tracing.headers() == {}
    with tracing.span("nothing") as span:
        span.set("k", "v")  # a no-op, no SDK call
    assert tracing.configure(environ={"OTEL_TRACES_EXPORTER": "none"}) is False
    disabled = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}
    assert tracing.configure(environ=disabled) is False


def test_the_exporters_follow_the_standard_variables():
    def kinds(env: dict[str, str]) -> list[type]:
        names = env["OTEL_TRACES_EXPORTER"].split(",")
        return [type(e) for e in tracing.exporters(names, env)]

    assert kinds({"OTEL_TRACES_EXPORTER": "otlp"}) == [HttpExporter]
    grpc = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert kinds(grpc) == [GrpcExporter]
    # The traces-specific variable wins over the general one.
    assert kinds({**grpc, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}) == [
        HttpExporter
    ]
    assert kinds({"OTEL_TRACES_EXPORTER": "otlp,console"}) == [
        HttpExporter,
        ConsoleSpanExporter,
    ]


def test_an_unknown_exporter_is_refused_naming_the_variable():
    with pytest.raises(ValueError, match=r"OTEL_TRACES_EXPORTER.*zipkin"):
        tracing.configure(environ={"OTEL_TRACES_EXPORTER": "zipkin"})


def test_the_service_name_defaults_to_threadline_and_follows_the_variable():
    assert tracing.configure(environ={"OTEL_TRACES_EXPORTER": "console"}) is True
    assert tracing.enabled()
    assert tracing.service_name() == "threadline"
    tracing.install(None)
    named = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "tl-eu"}
    assert tracing.configure(environ=named) is True
    assert tracing.service_name() == "tl-eu"
