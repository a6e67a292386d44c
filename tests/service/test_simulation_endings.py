"""When a simulated conversation ends, decided from its stored state alone."""

from datetime import UTC, datetime
from typing import Any

from threadline.providers.fake import ScriptedLLM
from threadline.service.definitions import workflows as wf
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.simulations import conversation
from threadline.service.simulations.conversation import Context
from threadline.store import Document

AT = datetime(2026, 1, 1, tzinfo=UTC)


def doc(body: dict[str, Any]) -> Document:
    return Document(
        id="a" * 24, team_id="b" * 24, body=body, created_at=AT, updated_at=AT
    )


def context(**config: Any) -> Context:
    group = doc({"simulation_config": config, "max_turns": 2})
    store: Any = None  # no turn is taken here
    return Context(store, Runtime(llm=ScriptedLLM()), run_one_turn, group)


def test_a_conversation_times_out_from_its_first_turn():
    ctx = context(timeout_seconds=5)
    now = wf.now().timestamp()
    assert conversation.timed_out(ctx, doc({"started_at": None})) is None
    assert conversation.timed_out(ctx, doc({"started_at": now})) is None
    ending = conversation.timed_out(ctx, doc({"started_at": now - 6}))
    assert ending is not None
    assert (ending["status"], ending["reason"]) == ("failed", "timeout")
    assert "timeout_seconds (5)" in ending["error"]


def test_the_opening_side_and_the_turn_order_follow_the_config():
    assert conversation.next_side(context(), doc({"step": 0})) == "selected"
    assert conversation.next_side(context(), doc({"step": 1})) == "counter"
    late = context(assistant_starts_first=False)
    assert conversation.next_side(late, doc({"step": 0})) == "counter"
    assert conversation.next_side(late, doc({"step": 3})) == "selected"
