"""Telemetry: Prometheus metrics, OpenTelemetry traces and structured logs.

A room beside ``store`` and ``providers`` that imports no other part of threadline;
``api``, ``service``, ``nodes``, ``tools``, ``providers`` and ``store`` use it, the
engine never does. Its modules:

- ``metrics.py``: the process's Prometheus metrics (bounded labels), rendering
  ``/metrics`` with the gauges read from the store at scrape time;
- ``tracing.py``: OpenTelemetry set up from the standard ``OTEL_*`` variables
  (off unless ``OTEL_TRACES_EXPORTER`` names an exporter), ``span()`` and the
  W3C ``traceparent`` carried by stored commands and outbound requests;
- ``context.py``: what a log line or a span is about (run, turn, command) and the
  secret values nothing may carry, as context variables;
- ``logs.py``: ``THREADLINE_LOG_FORMAT=json`` (one JSON object per line).

See docs/telemetry.md.
"""
