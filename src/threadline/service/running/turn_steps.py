"""A command's turn: the engine's steps, answered from the journal, then for real.

``turn_driver`` calls ``execute_turn`` with the run's state; this module opens the
run's snapshot for the turn, builds the executors' ports (managed prompts, the
budget gate, MCP with journaled effects), compiles the graph and answers each node
the pure engine asks for: replayed from the step journal (``turn_journal``) while it
has entries, then executed (``node_execution``) and journaled before the next side
effect. With another durable executor (``runtime.step_runner``, DBOS) the steps are
its own, and the command row only fences each later side effect.
"""

from collections.abc import Generator
from typing import Any

from threadline.engine.graph import compile_graph
from threadline.engine.inputs import TurnEnv
from threadline.engine.state import RunState
from threadline.engine.steps import (
    NodeResult,
    NodeTask,
    result_from_json,
    result_to_json,
)
from threadline.engine.turn import TurnOutcome, run_turn
from threadline.nodes.base import Ports
from threadline.nodes.mcp_tools import Direct, McpHub
from threadline.providers.managed_prompts import ExpandingLLM
from threadline.service.caller import Caller
from threadline.service.reuse import managed_prompts
from threadline.service.running import budget_gate, costs, upgrade_marks
from threadline.service.running.budget_gate import BudgetedLLM
from threadline.service.running.node_execution import execute_node
from threadline.service.running.ports import ports_for
from threadline.service.running.turn_endings import turn_env
from threadline.service.running.turn_journal import Journal, Stop, flush, has_effects
from threadline.service.runtime import Runtime
from threadline.service.team import secrets
from threadline.service.team.global_variables import TeamGlobals
from threadline.service.team.global_variables import for_run as team_globals
from threadline.service.team.sealing import open_tree
from threadline.service.team.secrets import redact, redact_turn, with_template_forms
from threadline.store import Command, Document, Store
from threadline.telemetry import context
from threadline.tools.http_call import HttpPolicy

JsonDict = dict[str, Any]


async def execute_turn(
    store: Store,
    runtime: Runtime,
    command: Command,
    doc: Document,
    state: RunState,
    journal: list[JsonDict],
    team: TeamGlobals | None,
) -> tuple[TurnOutcome, bool]:
    """Run the turn of ``command`` on ``state`` (changed in place), answering the
    engine's nodes from ``journal`` first, then for real; the outcome, redacted,
    and whether anything was journaled."""
    body = command.body
    caller = Caller(team_id=command.team_id, user_id=str(body.get("user_id") or ""))
    if team is None:
        team = await team_globals(store, command.team_id)
    # Keys inside the snapshot are sealed at rest: opened for this turn only.
    snapshot = open_tree(
        doc.body["workflow_run"]["workflow_config_fully_hydrated"],
        secrets.key_for(store),
    )
    hidden = with_template_forms(team.secret_values, snapshot, team.values)
    ports = ports_for(store, caller, runtime, runtime.sinks.get(command.id), hidden)
    ports.llm = ExpandingLLM(ports.llm, managed_prompts.texts_of(snapshot))
    limits = budget_gate.limits_of(doc.body)
    if limits:
        gate = budget_gate.BudgetGate(limits, state, runtime.clock)
        ports.llm = BudgetedLLM(ports.llm, gate)
    raw_env = body.get("env") or turn_env(runtime, state.turn)
    env = TurnEnv(
        now=float(raw_env["now"]),
        builtins=dict(raw_env.get("builtins") or {}),
        globals_=team.values,
        max_node_runs=runtime.max_node_runs_per_turn,
        render_limits=runtime.render_limits,
        budget=limits,
        price=costs.price,
    )
    steps = Journal(store, runtime, command, journal, hidden)
    ports.mcp = McpHub(
        policy=HttpPolicy(allow_private=runtime.http_allow_private),
        limits=runtime.mcp_limits,
        listings=runtime.mcp_cache(command.run_id),
        effects=steps if runtime.step_runner is None else Direct(),
    )
    graph = compile_graph(snapshot)
    upgraded = upgrade_marks.mark(doc, state, graph, env.now)
    gen = run_turn(state, graph, body["run_input"], env)
    with context.bind(turn=state.turn + 1, secrets=hidden):
        outcome = await _steps(store, runtime, command, gen, ports, steps)
    if upgraded is not None:  # an upgrade applied since the last turn leads it
        outcome.events.insert(0, upgraded)
    # No secret global reaches a response, an event or the stored run.
    return redact_turn(state, outcome, ports.secret_values), steps.written > 0


async def _steps(
    store: Store,
    runtime: Runtime,
    command: Command,
    gen: Generator[NodeTask, NodeResult, TurnOutcome],
    ports: Ports,
    steps: Journal,
) -> TurnOutcome:
    """Answer each node the engine asks for: from the journal, then for real."""
    hidden = steps.hidden
    replayed = 0
    stepped = 0
    index = 0
    outcome: TurnOutcome
    try:
        task = next(gen)
        while True:
            steps.begin(index)
            index += 1
            if replayed < len(steps.nodes):
                entry = steps.nodes[replayed]
                replayed += 1
                if entry.get("node") != task.node.get("logical_id"):
                    raise RuntimeError(
                        "the step journal does not match the turn being resumed "
                        f"(step {replayed}: {entry.get('node')!r} recorded, "
                        f"{task.node.get('logical_id')!r} now)"
                    )
                result = result_from_json(entry["result"])
            else:
                if command.run_id in runtime.interrupts:
                    raise Stop
                if runtime.step_runner is not None:
                    # Another durable executor checkpoints the steps; only fence
                    # and look for interrupts before each later side effect.
                    if stepped and has_effects(task):
                        await flush(store, runtime, command, steps.written, [])
                    result = await runtime.step_runner(task, ports, runtime)
                    stepped += 1
                    task = gen.send(result)
                    continue
                if steps.unwritten and has_effects(task):
                    await steps.flush()
                result = await execute_node(task, ports, runtime)
                # Journaled redacted: no secret reaches the database, even for a
                # moment (the turn's outcome is redacted the same way at its end).
                steps.unwritten.append(
                    {
                        "node": task.node.get("logical_id"),
                        "result": redact(result_to_json(result), hidden),
                    }
                )
            task = gen.send(result)
    except StopIteration as stop:
        outcome = stop.value
    finally:
        gen.close()
    return outcome
