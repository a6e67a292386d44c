"""A turn's work does not grow with the conversation: what a turn converts,
repairs and expands for its model request, and what it stores, is the same at turn
60 as at turn 10 (counted, not timed)."""

import json
from typing import Any

from sqlalchemy import event

import threadline.providers.managed_prompts as managed
from tests.service.test_run_history import CHAT, START, says
from threadline.ids import new_object_id
from threadline.nodes import chat_history
from threadline.providers.fake import ScriptedLLM
from threadline.service.caller import Caller
from threadline.service.definitions import workflows
from threadline.service.running.runs import run_one_turn
from threadline.service.runtime import Runtime
from threadline.service.turns import TurnRequest
from threadline.store import Store

JsonDict = dict[str, Any]


def _chat_with_a_managed_prompt() -> JsonDict:
    chat: JsonDict = json.loads(json.dumps(CHAT))
    chat["node_configs"][1]["main_response_config"]["prompt"] = (
        "<<<managed_prompt:persona>>> You help."
    )
    return chat


class Work:
    """Calls of the per-message steps of a model request, and statement bytes."""

    def __init__(self, monkeypatch: Any, store: Store) -> None:
        self.counts = {"converted": 0, "repaired": 0, "expanded": 0}
        self.bytes = 0
        for module, name, key in (
            (chat_history, "to_chat_message", "converted"),
            (chat_history, "_repair_unit", "repaired"),
            (managed, "expand", "expanded"),
        ):
            monkeypatch.setattr(
                module, name, self._counting(getattr(module, name), key)
            )
        engine = store._engine.sync_engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", self._statement)

    def _counting(self, real: Any, key: str) -> Any:
        def counted(*args: Any) -> Any:
            self.counts[key] += 1
            return real(*args)

        return counted

    def _statement(
        self, conn: Any, cursor: Any, stmt: str, params: Any, *_: Any
    ) -> None:
        if "run_turns" in stmt or "run_history" in stmt:
            return  # a turn's segment holds its visited nodes (see docs/benchmarks.md)
        self.bytes += len(stmt) + len(json.dumps(params, default=str))

    def take(self) -> tuple[dict[str, int], int]:
        out = (dict(self.counts), self.bytes)
        self.counts = dict.fromkeys(self.counts, 0)
        self.bytes = 0
        return out


async def test_a_turn_walks_and_writes_the_same_at_turn_sixty_as_at_turn_ten(
    store: Store, monkeypatch: Any
) -> None:
    llm = ScriptedLLM(latency_ms=0)
    runtime = Runtime(llm=llm)
    caller = Caller(team_id=new_object_id(), user_id="u")
    created = await workflows.create(store, caller, _chat_with_a_managed_prompt())
    work = Work(monkeypatch, store)

    async def turn(run_id: str | None, raw: JsonDict) -> str:
        request = TurnRequest(
            workflow_id=str(created["_id"]),
            run_id=run_id,
            raw_input=raw,
            field="run_input",
        )
        doc, outcome = await run_one_turn(store, caller, runtime, request)
        assert outcome.status == "waiting_for_user_input", outcome.error
        return str(doc.id)

    run_id = await turn(None, START)
    per_turn = []
    for n in range(60):
        llm.extend(f"answer {n}")
        work.take()
        await turn(run_id, says(f"question {n}"))
        per_turn.append(work.take())
    assert len(llm.requests[-1].messages) > 100  # the whole conversation was sent
    early, late = per_turn[10], per_turn[59]
    assert late[0] == early[0], (early, late)
    assert early[0]["converted"] <= 4 and early[0]["expanded"] <= 10, early
    # Bytes sent in statements: only the digits of counters and ids may differ.
    assert abs(late[1] - early[1]) < 64, (early[1], late[1])
