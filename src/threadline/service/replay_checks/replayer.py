"""Replaying one recorded run's user inputs against another version.

The recording is first replayed through its own snapshot
(``running.reruns.replay``), which rebuilds every node run's result from the
recorded events and shows the task each answered. Then each recorded input is fed,
turn by turn, to the pure engine (``engine.turn.run_turn``) on the target
version's snapshot. Each task the engine yields is answered:

- from the recording while the replay *follows* it: the task at the same place of
  the same turn was the same node on the same thread, with the same prompt (node
  and workflow config, messages, history, destinations, variables);
- otherwise live, ``offline`` (the model is called; tools, HTTP and vendors are
  not). From the first live answer on, the conversation is no longer the
  recorded one, so every later task is answered live too.

The report compares the paths, errors, tool calls and final status (``compare``).
"""

import copy
import logging
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.inputs import InvalidInput, TurnEnv
from threadline.engine.render_limits import RenderLimits
from threadline.engine.state import RunState
from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.turn import run_turn
from threadline.providers.prices import price
from threadline.service.replay_checks import compare
from threadline.service.replay_checks.offline import (
    SIDE_EFFECT_TYPES,
    CallLimitReached,
    Offline,
    call_key,
    call_name,
    normalised,
    placeholder_result,
)
from threadline.service.running.reruns.replay import replay
from threadline.service.runtime import builtin_variables
from threadline.service.team.secrets import redact, redact_turn
from threadline.store import Document

JsonDict = dict[str, Any]
log = logging.getLogger("threadline.replay_checks")
Answered = tuple[NodeTask, NodeResult]
_BUILTIN_KEYS = tuple(builtin_variables(0.0, random.Random(0)))
_WORKFLOW_PROMPT_KEYS = (
    "llms_config",
    "attachable_llm_config_id",
    "main_response_config",
    "backchannel_response_config",
    "default_prompt_prefix",
    "default_prompt_suffix",
    "ignore_content_received_during_llm_tool_call_specification",
    "tools_config",
    "mcp_servers",
    "global_condition_evaluation_method",
)
"""The workflow settings a node's executor reads (``nodes/llm*.py``, ``prompts``)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The engine's limits and the team's variables, as for a real turn."""

    globals_: JsonDict
    secrets: tuple[str, ...]
    max_node_runs: int
    render_limits: RenderLimits


@dataclass
class Recording:
    """A source run: its record, and the tasks its replay answered per turn."""

    doc: Document
    pairs: list[JsonDict]
    tasks: dict[int, list[Answered]]
    reusable_turns: int
    """Turns whose answers can be reused (the record replays faithfully)."""
    status: str | None
    calls: dict[str, NodeResult] = field(default_factory=dict)
    """Recorded side-effect node results by ``call_key``."""

    @property
    def snapshot(self) -> JsonDict:
        snapshot = self.doc.body["workflow_run"].get("workflow_config_fully_hydrated")
        return snapshot if isinstance(snapshot, dict) else {}


def recording(doc: Document, pairs: list[JsonDict], limits: Limits) -> Recording:
    """Replay ``doc``'s record through its own snapshot, keeping every task."""
    tasks: dict[int, list[Answered]] = defaultdict(list)
    rec = Recording(doc, pairs, tasks, 0, doc.status)
    if not rec.snapshot:
        return rec
    done = replay(
        doc.id,
        rec.snapshot,
        pairs,
        doc.body.get("state"),
        globals_=limits.globals_,
        secrets=limits.secrets,
        max_node_runs=limits.max_node_runs,
        render_limits=limits.render_limits,
        on_task=lambda index, task, result: tasks[index].append((task, result)),
    )
    rec.reusable_turns = len(pairs) if done.failed_at is None else done.failed_at
    if done.failed_at is None and done.states:
        rec.status = str(done.states[-1].get("status") or doc.status)
    for index in range(rec.reusable_turns):
        for task, result in tasks.get(index, []):
            if task.node.get("type") in SIDE_EFFECT_TYPES:
                rec.calls.setdefault(call_key(task), result)
    return rec


def _prompt(task: NodeTask) -> JsonDict:
    """Everything of a task a node's answer depends on, across versions."""
    return {
        "thread": task.thread_id,
        "node": normalised(task.node),
        "workflow": normalised(
            {k: task.workflow.get(k) for k in _WORKFLOW_PROMPT_KEYS}
        ),
        "messages": task.messages,
        "history": task.history,
        "scope": (
            task.scope.dynamic,
            task.scope.runtime,
            task.scope.threads,
            task.scope.globals_,
        ),
        "destinations": [
            (d.node_logical_id, d.condition, d.args_schema, d.kind)
            for d in task.destinations
        ],
        "routing": (task.routing_method, task.tools_disabled, task.purpose),
        "attempt": task.attempt,
    }


@dataclass
class Replay:
    """One run replayed against the target snapshot."""

    rec: Recording
    target: JsonDict
    offline: Offline
    limits: Limits
    following: bool = True
    reused: int = 0
    live: int = 0
    calls: list[JsonDict] = field(default_factory=list)
    cost_usd: float = 0.0
    tokens: dict[str, int] = field(
        default_factory=lambda: {
            "input_tokens": 0,
            "output_tokens": 0,
            "total_tokens": 0,
        }
    )

    async def _answer(self, index: int, position: int, task: NodeTask) -> NodeResult:
        recorded = (
            self.rec.tasks.get(index, []) if index < self.rec.reusable_turns else []
        )
        if self.following and position < len(recorded):
            old_task, old_result = recorded[position]
            if _prompt(old_task) == _prompt(task):
                self.reused += 1
                self._note_call(task, executed=True)
                return copy.deepcopy(old_result)
        self.following = False
        if task.node.get("type") in SIDE_EFFECT_TYPES and task.purpose == "node":
            known = self.rec.calls.get(call_key(task))
            self._note_call(task, executed=known is not None)
            self.reused += known is not None
            return copy.deepcopy(known) if known else placeholder_result(task)
        self.live += 1
        result = await self.offline.execute(task, self.target)
        for call in result.llm_calls:
            for name in self.tokens:
                self.tokens[name] += int(call.get(name) or 0)
            cost = price(
                str(call.get("response_model") or ""),
                str(call.get("provider") or ""),
                int(call.get("input_tokens") or 0),
                int(call.get("output_tokens") or 0),
            )
            self.cost_usd += cost or 0.0
        return result

    def _note_call(self, task: NodeTask, *, executed: bool) -> None:
        if task.node.get("type") not in SIDE_EFFECT_TYPES:
            return
        call = {
            "kind": str(task.node.get("type")),
            "node_logical_id": task.node.get("logical_id"),
            "name": call_name(task.node),
            "call_key": call_key(task),
        }
        if not executed:
            call["not_executed"] = True
        self.calls.append(call)

    async def _turn(self, index: int, state: RunState, pair: JsonDict) -> JsonDict:
        events = list((pair.get("run_output") or {}).get("events") or [])
        env = TurnEnv(
            now=float(events[0].get("timestamp") or 0.0) if events else 0.0,
            max_node_runs=self.limits.max_node_runs,
            render_limits=self.limits.render_limits,
            builtins=_builtins(self.rec.doc) if state.turn == 0 else {},
            globals_=self.limits.globals_,
        )
        gen = run_turn(
            state, compile_graph(self.target), pair.get("run_input") or {}, env
        )
        position = 0
        try:
            task = next(gen)
            while True:
                result = await self._answer(index, position, task)
                position += 1
                task = gen.send(result)
        except StopIteration as stop:
            return {
                "events": redact_turn(state, stop.value, self.limits.secrets).events
            }

    async def run(self) -> JsonDict:
        """The per-run report (see docs/replay-checks.md)."""
        state = RunState(run_id=self.rec.doc.id)
        calls_before = self.offline.llm.calls
        report: JsonDict = {
            "workflow_run_id": self.rec.doc.id,
            "source_version_number": self.rec.doc.version_number,
            "turns": len(self.rec.pairs),
            "outcome": "replayed",
            "reason": None,
        }
        recorded_errors: list[JsonDict] = []
        replayed_errors: list[JsonDict] = []
        recorded_calls: list[JsonDict] = []
        replayed_calls: list[JsonDict] = []
        where: JsonDict | None = None
        for index, pair in enumerate(self.rec.pairs):
            before = list((pair.get("run_output") or {}).get("events") or [])
            recorded_errors += compare.errors(index, before)
            recorded_calls += compare.llm_tool_calls(before)
            try:
                after = (await self._turn(index, state, pair))["events"]
            except CallLimitReached as exc:
                report.update(outcome="incomplete", reason=str(exc))
                break
            except InvalidInput as exc:
                replayed_errors.append(
                    {
                        "turn_index": index,
                        "node_logical_id": None,
                        "message": f"the recorded input no longer applies: {exc}",
                    }
                )
                state.status = "failed"
                break
            replayed_errors += compare.errors(index, after)
            replayed_calls += compare.llm_tool_calls(after)
            where = where or compare.divergence(index, before, after)
        recorded_calls += [
            {k: v for k, v in c.items() if k != "not_executed"}
            for c in self._recorded_side_effects()
        ]
        replayed_calls += self.calls
        changed = compare.changed_calls(recorded_calls, replayed_calls)
        changed["not_executed"] = [c for c in self.calls if c.get("not_executed")]
        report.update(
            same_path=where is None,
            divergence=where,
            recorded_status=self.rec.status,
            replayed_status=state.status,
            status_changed=state.status != self.rec.status,
            new_errors=compare.new_errors(recorded_errors, replayed_errors),
            tool_calls=changed,
            reused_node_runs=self.reused,
            live_node_runs=self.live,
            usage={
                "llm_calls": self.offline.llm.calls - calls_before,
                **self.tokens,
                "cost_usd": round(self.cost_usd, 6),
            },
        )
        return report

    def _recorded_side_effects(self) -> list[JsonDict]:
        out = []
        for index in range(len(self.rec.pairs)):
            for task, _ in self.rec.tasks.get(index, []):
                if task.node.get("type") in SIDE_EFFECT_TYPES:
                    out.append(
                        {
                            "kind": str(task.node.get("type")),
                            "node_logical_id": task.node.get("logical_id"),
                            "name": call_name(task.node),
                            "call_key": call_key(task),
                        }
                    )
        return out


def _builtins(doc: Document) -> JsonDict:
    dynamic = (doc.body.get("state") or {}).get("dynamic") or {}
    return {k: dynamic[k] for k in _BUILTIN_KEYS if k in dynamic}


async def replay_run(
    rec: Recording, target: JsonDict, offline: Offline, limits: Limits
) -> JsonDict:
    """Replay ``rec`` against ``target``; never raises for a run's own trouble."""
    if not rec.snapshot:
        return {
            "workflow_run_id": rec.doc.id,
            "source_version_number": rec.doc.version_number,
            "outcome": "incomplete",
            "reason": "the run predates config snapshots; it cannot be replayed",
        }
    offline.intercepted.calls.clear()
    try:
        report = await Replay(rec, target, offline, limits).run()
    except Exception as exc:  # a record the engine cannot digest fails this run only
        log.exception("replaying run %s failed", rec.doc.id)
        return {
            "workflow_run_id": rec.doc.id,
            "source_version_number": rec.doc.version_number,
            "outcome": "incomplete",
            "reason": f"replaying the run failed: {type(exc).__name__}: {exc}",
        }
    intercepted = [
        redact(dict(c, not_executed=True), limits.secrets)
        for c in offline.intercepted.calls
    ]
    if intercepted:
        calls = report["tool_calls"]
        calls.update(changed=True, added=calls["added"] + intercepted)
        calls["not_executed"] += intercepted
    return report
