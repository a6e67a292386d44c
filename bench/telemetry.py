"""Scenario: the cost of telemetry per turn, off and on, side by side.

The same turn (a new run whose one turn makes five instant LLM calls through
``say_llm`` nodes, on a SQLite file) is measured with tracing off (the default:
only the Prometheus counters, which are always on) and with tracing on: an SDK
tracer provider sampling every span into a ``BatchSpanProcessor`` whose exporter
drops them, so the row shows what Threadline's spans cost, not a network.
``over_off_p50`` is the difference of the medians.
"""

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from bench.common import Case, Options, make_case, measure_async
from bench.service_sqlite import (
    bench_caller,
    bench_runtime,
    create_workflow,
    open_bench_store,
    remove_db,
)
from bench.workloads import START, say_llm_chain
from threadline.service.running.runs import run_one_turn
from threadline.service.turns import TurnRequest
from threadline.telemetry import tracing

NAME = "telemetry"
TITLE = "Telemetry cost per turn: off vs tracing on (5 LLM calls, SQLite)"
NODES = 5


class _Drop(SpanExporter):
    """Accepts every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


async def run(opts: Options) -> list[Case]:
    path = opts.work_dir / "telemetry.db"
    store = await open_bench_store(path)
    caller, runtime = bench_caller(), bench_runtime()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    cases: list[Case] = []
    try:
        wid = await create_workflow(store, caller, say_llm_chain(NODES))

        async def body() -> None:
            _, outcome = await run_one_turn(
                store,
                caller,
                runtime,
                TurnRequest(workflow_id=wid, raw_input=START, field="run_input"),
            )
            if outcome.status != "completed":
                raise AssertionError(f"run ended {outcome.status}")

        for label, on in (("tracing off", False), ("tracing on", True)):
            tracing.install(provider if on else None)
            try:
                measured = await measure_async(body, opts)
            finally:
                tracing.install(None)
            cases.append(make_case(NAME, label, NODES, measured, tracing=label))
    finally:
        provider.shutdown()
        await store.close()
        remove_db(path)
    off, on = cases
    if off.per_turn.p50 > 0:
        extra = (on.per_turn.p50 - off.per_turn.p50) / off.per_turn.p50
        on.extra["over_off_p50"] = f"{extra:+.1%}"
    return cases
