"""What a simulation group produced: its conversations (plain and detailed) and the
evaluation summary.

A conversation on the wire (the SDK's ``SimulationRun``): ``{id, simulation_group_id,
selected_workflow_run_id, counter_workflow_run_id, status, error_message, run_index,
end_reason, turns, ...}``. The detailed form adds, read from the two runs, each
side's workflow id and name, its run's status and evaluation (run id, status,
result, ``score``); ``workflow_name``/``workflow_id``/``evaluation_run_id``/``score``
are the selected side's. The evaluation result is the evaluator run's last
``workflow_show_state`` variables; ``score`` is its ``score`` when that is a number.

The summary counts, per side, the runs by status and their evaluations (completed,
pending, failed), and for every numeric variable of the evaluation results its
count, mean, min and max.
"""

from typing import Any

from threadline.errors import NotFound
from threadline.service.caller import Caller
from threadline.service.simulations import configs, groups
from threadline.service.simulations.configs import CONVERSATIONS, GROUPS
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
SIDES = ("selected", "counter")


def render(doc: Document) -> JsonDict:
    """The wire object the SDK's ``SimulationRun`` model reads."""
    body = doc.body
    return {
        "_id": doc.id,
        "id": doc.id,
        "simulation_group_id": body["simulation_group_id"],
        "simulation_id": body["simulation_config_id"],
        "run_index": body["run_index"],
        "selected_workflow_run_id": body.get("selected_workflow_run_id"),
        "counter_workflow_run_id": body.get("counter_workflow_run_id"),
        "status": doc.status,
        "error_message": body.get("error_message"),
        "end_reason": body.get("end_reason"),
        "turns": body.get("turns"),
        "waiting": body.get("waiting"),
        "team_id": doc.team_id,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
        "finished_at": body.get("finished_at"),
    }


async def _page(
    tx: Transaction, caller: Caller, group_id: str, page: int, size: int | None
) -> tuple[list[Document], int]:
    await groups.get_doc(tx, caller, group_id)
    return await tx.documents(CONVERSATIONS).find(
        caller.team_id,
        Query(
            equals={"workflow_id": group_id}, page=page, size=size, newest_first=False
        ),
    )


async def executions(
    store: Store, caller: Caller, group_id: str, *, page: int, size: int
) -> JsonDict:
    """The group's conversations in index order."""
    async with store.begin() as tx:
        docs, total = await _page(tx, caller, group_id, page, size)
    return {
        "individual_runs": [render(d) for d in docs],
        "total": total,
        "page": page,
        "size": size,
    }


def _last_state(pairs: list[JsonDict]) -> JsonDict | None:
    result = None
    for pair in pairs:
        for event in (pair.get("run_output") or {}).get("events") or []:
            if event.get("type") == "workflow_show_state":
                result = event.get("runtime_variables")
    return result if isinstance(result, dict) else None


async def _evaluation(tx: Transaction, team_id: str, run: Document | None) -> JsonDict:
    info = (run.body["workflow_run"].get("evaluation_run_info") or {}) if run else {}
    evaluation_id = info.get("evaluation_workflow_run_id")
    out: JsonDict = {
        "evaluation_run_id": evaluation_id,
        "evaluation_status": "waiting" if info.get("waiting") else None,
        "evaluation_error": info.get("error"),
        "evaluation_result": None,
        "score": None,
    }
    if not evaluation_id:
        if info.get("error"):
            out["evaluation_status"] = "failed"
        return out
    evaluation = await tx.documents("workflow_runs").get(team_id, evaluation_id)
    if evaluation is None:
        return out
    out["evaluation_status"] = evaluation.status
    result = _last_state(await tx.turns().list(team_id, evaluation_id))
    out["evaluation_result"] = result
    score = (result or {}).get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        out["score"] = score
    return out


async def _side(
    tx: Transaction, team_id: str, config: JsonDict, side: str, run_id: str | None
) -> tuple[Document | None, JsonDict]:
    details = config.get(f"{side}_workflow") or {}
    run = await tx.documents("workflow_runs").get(team_id, run_id) if run_id else None
    evaluation = await _evaluation(tx, team_id, run)
    return run, {
        f"{side}_workflow_id": details.get("workflow_id"),
        f"{side}_workflow_name": details.get("name"),
        f"{side}_workflow_status": run.status if run else None,
        f"{side}_turn_count": (run.body.get("turn_count") if run else 0),
        **{f"{side}_{k}": v for k, v in evaluation.items()},
    }


async def _detailed(
    tx: Transaction, team_id: str, group: Document, doc: Document
) -> JsonDict:
    config = group.body["simulation_config"]
    out = render(doc)
    for side in SIDES:
        _, fields = await _side(
            tx, team_id, config, side, doc.body.get(f"{side}_workflow_run_id")
        )
        out.update(fields)
    out.update(
        {
            "workflow_id": out["selected_workflow_id"],
            "workflow_name": out["selected_workflow_name"],
            "evaluation_run_id": out["selected_evaluation_run_id"],
            "score": out["selected_score"],
        }
    )
    return out


async def detailed(
    store: Store, caller: Caller, group_id: str, *, page: int, size: int
) -> JsonDict:
    """The group's conversations with their runs' details, in index order."""
    async with store.begin() as tx:
        group = await groups.get_doc(tx, caller, group_id)
        docs, total = await _page(tx, caller, group_id, page, size)
        items = [await _detailed(tx, caller.team_id, group, d) for d in docs]
    return {"individual_runs": items, "total": total, "page": page, "size": size}


def _metrics(results: list[JsonDict]) -> JsonDict:
    values: dict[str, list[float]] = {}
    for result in results:
        for key, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    return {
        key: {
            "count": len(v),
            "mean": sum(v) / len(v),
            "min": min(v),
            "max": max(v),
        }
        for key, v in sorted(values.items())
    }


async def _side_summary(
    tx: Transaction, team_id: str, group: Document, convs: list[Document], side: str
) -> JsonDict:
    config = group.body["simulation_config"]
    details = config.get(f"{side}_workflow") or {}
    statuses: dict[str, int] = {}
    evaluations = {"completed": 0, "waiting": 0, "failed": 0, "running": 0}
    results: list[JsonDict] = []
    runs = 0
    for conv in convs:
        run, fields = await _side(
            tx, team_id, config, side, conv.body.get(f"{side}_workflow_run_id")
        )
        if run is None:
            continue
        runs += 1
        statuses[run.status or "unknown"] = statuses.get(run.status or "unknown", 0) + 1
        state = fields[f"{side}_evaluation_status"]
        if state == "completed":
            evaluations["completed"] += 1
        elif state == "waiting":
            evaluations["waiting"] += 1
        elif state in ("failed", "aborted_looping_risk", "cancelled"):
            evaluations["failed"] += 1
        elif state is not None:
            evaluations["running"] += 1
        if fields[f"{side}_evaluation_result"]:
            results.append(fields[f"{side}_evaluation_result"])
    return {
        "workflow_id": details.get("workflow_id"),
        "workflow_name": details.get("name"),
        "total_runs": runs,
        "runs_by_status": statuses,
        "evaluated_runs": evaluations["completed"],
        "evaluations": evaluations,
        "metrics": _metrics(results),
    }


async def summary(
    store: Store, caller: Caller, simulation_id: str, group_id: str | None
) -> JsonDict:
    """The evaluation summary of one group (default: the simulation's latest)."""
    async with store.begin() as tx:
        await configs.get_doc(tx, caller, simulation_id)
        if group_id is None:
            latest, _ = await tx.documents(GROUPS).find(
                caller.team_id,
                Query(equals={"workflow_id": simulation_id}, size=1),
            )
            group = latest[0] if latest else None
        else:
            group = await groups.get_doc(tx, caller, group_id)
            if group.workflow_id != simulation_id:
                raise NotFound(
                    f"simulation run {group_id!r} not found for simulation "
                    f"{simulation_id!r}"
                )
        if group is None:
            return {
                "simulation_id": simulation_id,
                "group_id": None,
                "status": None,
                "selected_workflow_summary": None,
                "counter_workflow_summary": None,
            }
        convs, _ = await tx.documents(CONVERSATIONS).find(
            caller.team_id,
            Query(equals={"workflow_id": group.id}, newest_first=False),
        )
        tally = await groups.counts(tx, caller.team_id, group.id)
        out: JsonDict = {
            "simulation_id": simulation_id,
            "group_id": group.id,
            "status": groups.wire_status(group.status),
            "total_runs": group.body["total_runs"],
            "completed_runs": tally["completed"],
            "failed_runs": tally["failed"],
            "cancelled_runs": tally["cancelled"],
            "end_reasons": _reasons(convs),
        }
        for side in SIDES:
            out[f"{side}_workflow_summary"] = await _side_summary(
                tx, caller.team_id, group, convs, side
            )
    return out


def _reasons(convs: list[Document]) -> JsonDict:
    reasons: dict[str, int] = {}
    for conv in convs:
        reason = conv.body.get("end_reason")
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
    return reasons
