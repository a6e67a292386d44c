"""Cross-team access to every route: another team's id behaves exactly like a
missing one, and nothing of the owner's changes.

Team A owns one of everything (a workflow with two versions, nodes, edges, a tool,
a finished run with comments, ratings and a re-run token, an LLM config, a global
variable, a schedule, a webhook with a delivery, a template, a node library, a
published super node, a vendor credential, a favourite). Team B then calls EVERY
operation of the app's own OpenAPI document, and its WebSocket, with A's ids:

- a route naming one of A's objects in its path answers 404 ``not_found``;
- any other route answers B about B alone: below 500, and none of A's ids in it;
- a body naming A's objects (a run of A's workflow, a template or library of A's
  nodes, a super node embedding A's workflow) is refused with a 4xx.

Afterwards every read of A (through A's own key) answers exactly as before. The
cases are keyed by operation; a route without a case fails
``test_every_route_has_a_cross_team_case``.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute

from tests.api.conftest import Team, make_team
from tests.api.test_reuse import INTERFACE
from tests.api.test_stream import Closed, WebSocketClient
from tests.factories import edge, static_node
from threadline.api.app import PREFIXES, bootstrap, build_router, create_app
from threadline.ids import is_object_id, new_object_id
from threadline.providers.fake import ScriptedLLM
from threadline.service.runtime import Runtime
from threadline.settings import Settings
from threadline.store import Store

START = {"command": "start", "thread_to_node_inputs": {"0": {"node_run_inputs": []}}}
JsonDict = dict[str, Any]


@dataclass
class Owned:
    """Team A's objects, by the path parameter that names them."""

    ids: dict[str, str] = field(default_factory=dict)
    event_id: str = ""
    webhook_event_id: str = ""


@dataclass
class World:
    app: FastAPI
    a: Team
    b: Team
    owned: Owned


# ------------------------------------------------------------- the routes


def _websocket_paths(router: Any) -> list[str]:
    found = []
    for route in router.routes:
        if hasattr(route, "original_router"):
            found += _websocket_paths(route.original_router)
        elif isinstance(route, APIWebSocketRoute):
            found.append(route.path)
    return found


def app_operations() -> set[str]:
    """``METHOD /path`` of every HTTP operation and ``WS /path`` of every socket."""
    app = create_app(Settings(database_url="sqlite+aiosqlite://"))
    operations = {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
    }
    operations |= {f"WS {PREFIXES[0]}{p}" for p in _websocket_paths(build_router())}
    return operations


# How B's request is judged: "404" (A's object in the path), "own" (answers about
# B only), "refused" (a body naming A's objects: any 4xx).
Body = Callable[[Owned], Any]


@dataclass(frozen=True)
class Case:
    expect: str
    body: Body | None = None


def _none(_: Owned) -> Any:
    return None


def _empty(_: Owned) -> Any:
    return {}


NOT_FOUND = Case("404", _empty)
OWN = Case("own")
CASES: dict[str, Case] = {
    # catalogues: no team data at all
    **{
        f"GET /v1/{p}": OWN
        for p in (
            "nodes/types",
            "nodes/schema/{node_type}",
            "edges/types",
            "edges/schema/{edge_type}",
            "tools/types",
            "tools/schema/{tool_type}",
            "tools/inbuilt",
            "tools/configurable-inbuilt",
            "tools/configurable-inbuilt/{key}",
            "workflows/schema",
            "workflows/schemas/global-node-config",
            "workflow-categories",
            "schemas/llm-config",
            "workflow-runs/schema",
            "templates/schema",
            "node-libraries/schema",
            "simulations/schema",
        )
    },
    "GET /health": OWN,
    # lists and team-wide reads: B's own, never A's
    **{
        f"GET /v1/{p}": OWN
        for p in (
            "workflows",
            "workflows/versions/active",
            "workflow-schedules",
            "llm-configs",
            "llm-configs/default",
            "nodes",
            "edges",
            "tools",
            "workflow-runs",
            "teams/current/concurrency",
            "teams/current/credentials",
            "teams/current/run-budget",
            "global-variables",
            "global-variables/resolve",
            "workflow-webhooks",
            "workflow-webhooks/events",
            "super-nodes",
            "templates",
            "node-libraries",
            "simulations",
            "knowledge-bases",
            "managed-prompts",
        )
    },
    "POST /v1/knowledge-bases": Case("own", lambda o: {"name": "B's own"}),
    "POST /v1/managed-prompts": Case("own", lambda o: {"name": "b_p", "text": "B"}),
    "PATCH /v1/teams/current/concurrency": Case(
        "own", lambda o: {"max_concurrent_runs": 1}
    ),
    "PUT /v1/teams/current/credentials/{vendor}": Case(
        "own", lambda o: {"api_key": "sk-team-b-own-key-123456"}
    ),
    "PUT /v1/teams/current/run-budget": Case("own", lambda o: {"max_turns": 3}),
    "GET /v1/teams/current/credentials/{vendor}": OWN,
    "DELETE /v1/teams/current/credentials/{vendor}": OWN,
    "POST /v1/global-variables": Case("own", lambda o: {"name": "b_var", "value": 1}),
    "POST /v1/global-variables/bulk": Case(
        "own", lambda o: {"variables": [{"name": "b_bulk", "value": 2}]}
    ),
    "POST /v1/llm-configs": Case(
        "own", lambda o: {"name": "B", "config": {"type": "no_llm"}}
    ),
    "POST /v1/llm-configs/test": Case(
        "own", lambda o: {"config": {"type": "no_llm"}, "system_prompt": "Hi"}
    ),
    "POST /v1/workflow-webhooks": Case(
        "own",
        lambda o: {
            "name": "B hook",
            "url": "https://hooks.example.com/b",
            "actions": ["workflow_created"],
        },
    ),
    "POST /v1/tools/execute": Case(
        "own",
        lambda o: {
            "tool_config": {
                "type": "inline_python",
                "name": "double",
                "code": "def double(x: int) -> int:\n    return x * 2",
            },
            "arguments": {"x": 2},
        },
    ),
    "POST /v1/workflows": Case("own", lambda o: {"name": "B's own"}),
    "POST /v1/tools/import": Case(
        "own",
        lambda o: {
            "bundle": {
                "export_format": 1,
                "tool_config": {"type": "inbuilt_function", "tool_id": "math_add"},
            }
        },
    ),
    # removed: 410 for every id, A's included, exactly like ids no team has
    "POST /v1/workflows/{workflow_id}/runs/{run_id}/checkpoint-run": Case(
        "missing", _empty
    ),
    "POST /v1/workflows/import/bundle": Case(
        "own",
        lambda o: {
            "bundle": {
                "versions": [{"version_number": 0, "config": {"workflow_config": {}}}]
            }
        },
    ),
    # bodies that name A's objects
    "POST /v1/nodes": Case(
        "refused",
        lambda o: {
            "type": "no_op",
            "logical_id": "node_b",
            "workflow_id": o.ids["workflow_id"],
            "version_number": 0,
        },
    ),
    "POST /v1/edges": Case(
        "refused",
        lambda o: {
            "source_node_logical_id": "node_hi",
            "destination_node_logical_id": "node_hi",
            "workflow_id": o.ids["workflow_id"],
            "version_number": 0,
        },
    ),
    "POST /v1/tools": Case(
        "refused",
        lambda o: {
            "type": "inline_python",
            "name": "t",
            "code": "def t() -> int:\n    return 1",
            "workflow_id": o.ids["workflow_id"],
            "version_number": 0,
        },
    ),
    "POST /v1/workflow-runs": Case(
        "refused", lambda o: {**START, "workflow_id": o.ids["workflow_id"]}
    ),
    "POST /v1/templates": Case(
        "refused", lambda o: {"workflow_id": o.ids["workflow_id"]}
    ),
    "POST /v1/simulations": Case(
        "refused",
        lambda o: {
            "selected_workflow": {"workflow_id": o.ids["workflow_id"]},
            "counter_workflow": {"workflow_id": o.ids["workflow_id"]},
        },
    ),
    "POST /v1/node-libraries": Case(
        "refused", lambda o: {"name": "stolen", "nodes": [o.ids["node_id"]]}
    ),
}


def _fixed(body: JsonDict) -> Body:
    def make(_: Owned) -> JsonDict:
        return body

    return make


ONE_FIELD = {**INTERFACE, "input_fields": INTERFACE["input_fields"][:1]}
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()
# Writes to A's objects with bodies that are valid, so only ownership can refuse.
VALID_WRITES: dict[str, JsonDict] = {
    "PATCH /v1/workflows/{workflow_id}/concurrency": {"max_concurrent_runs": 2},
    "PATCH /v1/workflows/{workflow_id}/multitask": {"multitask_strategy": "reject"},
    "PATCH /v1/workflows/{workflow_id}/versions/{version_number}": {
        "version_name": "B was here"
    },
    "PATCH /v1/workflows/{workflow_id}/versions/{version_number}/config": {
        "config": {"category": "B"}
    },
    "POST /v1/llm-configs/{llm_config_id}/test": {"system_prompt": "Hi"},
    "POST /v1/workflow-runs/{run_id}/comments": {"content": "B"},
    "POST /v1/workflow-runs/{run_id}/upgrade": {"target_version_number": 0},
    "POST /v1/workflows/{workflow_id}/versions/{version_number}/replay-check": {
        "runs": 1
    },
    "POST /v1/workflow-runs/{run_id}/events/{event_id}/comments": {"content": "B"},
    "POST /v1/workflow-runs/{run_id}/turns/{turn_index}/comments": {"content": "B"},
    "PUT /v1/workflow-runs/{run_id}/events/{event_id}/rating": {"value": "down"},
    "PUT /v1/workflow-runs/{run_id}/turns/{turn_index}/rating": {"value": "down"},
    "POST /v1/workflows/{workflow_id}/schedules": {"scheduled_time": LATER},
    "PUT /v1/workflows/{workflow_id}/super-node-interface": {"interface": ONE_FIELD},
    "PATCH /v1/workflow-schedules/{schedule_id}": {"scheduled_time": LATER},
    "PATCH /v1/global-variables/{variable_id}": {"value": "B"},
    "PATCH /v1/llm-configs/{llm_config_id}": {"name": "B"},
    "PATCH /v1/workflow-webhooks/{webhook_id}": {"enabled": False},
    "PATCH /v1/templates/{template_id}": {"name": "B"},
    "PATCH /v1/node-libraries/{library_id}": {"name": "B"},
    "PATCH /v1/simulations/{simulation_id}": {"description": "B"},
    "PATCH /v1/managed-prompts/{name}": {"text": "B"},
    "PATCH /v1/workflows/{workflow_id}": {"name": "B"},
    "POST /v1/workflows/{workflow_id}/execute": {"run_input": START},
    "POST /v1/workflows/{workflow_id}/execute/stream": {"run_input": START},
}
for _operation, _body in VALID_WRITES.items():
    CASES[_operation] = Case("404", _fixed(_body))
# A re-run token is checked before its run: another team's token answers exactly
# as an unknown token does (400 rerun_token_invalid), never with the token's data.
for _operation in (
    "GET /v1/workflow-runs/{run_id}/turns/{turn_index}/rerun-token/{token}",
    "PATCH /v1/workflow-runs/{run_id}/turns/{turn_index}/rerun-token/{token}",
):
    CASES[_operation] = Case("missing", _empty)
# Every other operation naming one of A's objects in its path: 404 for B.
for _operation in sorted(app_operations()):
    if _operation in CASES or _operation.startswith("WS "):
        continue
    _path = _operation.split(" ", 1)[1]
    if "{" in _path:
        CASES[_operation] = NOT_FOUND


def test_every_route_has_a_cross_team_case():
    websockets = {op for op in app_operations() if op.startswith("WS ")}
    assert websockets == {"WS /v1/workflow-runs/ws"}
    assert app_operations() - websockets == set(CASES)


# ---------------------------------------------------------- team A's world


async def _ok(response: httpx.Response) -> JsonDict:
    assert response.status_code < 300, (response.request.url, response.text)
    return response.json() if response.content else {}


def _graph(name: str) -> JsonDict:
    return {
        "name": name,
        "workflow_config": {},
        "node_configs": [static_node("node_hi", "Hello from A", is_start=True)],
        "edge_configs": [],
    }


async def _runs_and_feedback(a: Team, owned: Owned) -> None:
    wid = owned.ids["workflow_id"]
    run = await _ok(
        await a.client.post(f"/v1/workflows/{wid}/execute", json={"run_input": START})
    )
    rid = owned.ids["run_id"] = run["run_id"]
    owned.event_id = run["events"][-1]["logical_id"]
    stop = {"run_id": rid, "run_input": {"command": "stop"}}
    await a.client.post(f"/v1/workflows/{wid}/execute", json=stop)
    base = f"/v1/workflow-runs/{rid}"
    added = await _ok(await a.client.post(f"{base}/comments", json={"content": "A"}))
    [comment] = added["workflow_run"]["workflow_run"]["comments"]
    owned.ids["comment_id"] = comment["logical_id"]
    await _ok(
        await a.client.put(
            f"{base}/events/{owned.event_id}/rating", json={"value": "up"}
        )
    )
    await _ok(await a.client.put(f"{base}/turns/0/rating", json={"value": "up"}))
    token = await a.client.post(f"{base}/turns/0/rerun-token", json={})
    owned.ids["token"] = (
        token.json()["rerun_token"] if token.status_code == 200 else "rrt_none"
    )


async def _team_resources(a: Team, owned: Owned) -> None:
    wid = owned.ids["workflow_id"]
    part = {"workflow_id": wid, "version_number": 0}
    node = await _ok(
        await a.client.post("/v1/nodes", json={"type": "no_op", "logical_id": "n_a"})
    )
    owned.ids["node_id"] = node["node"]["_id"]
    edge_doc = await _ok(
        await a.client.post(
            "/v1/edges",
            json={"source_node_logical_id": "a", "destination_node_logical_id": "b"},
        )
    )
    owned.ids["edge_id"] = edge_doc["edge"]["_id"]
    tool = await _ok(
        await a.client.post(
            "/v1/tools",
            json={
                "type": "inline_python",
                "name": "one",
                "code": "def one() -> int:\n    return 1",
            },
        )
    )
    owned.ids["tool_id"] = tool["tool"]["_id"]
    config = await _ok(
        await a.client.post(
            "/v1/llm-configs", json={"name": "A", "config": {"type": "no_llm"}}
        )
    )
    owned.ids["llm_config_id"] = config["llm_config"]["_id"]
    variable = await _ok(
        await a.client.post("/v1/global-variables", json={"name": "a_v", "value": 1})
    )
    owned.ids["variable_id"] = variable["variable"]["id"]
    when = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    schedule = await _ok(
        await a.client.post(
            f"/v1/workflows/{wid}/schedules", json={"scheduled_time": when}
        )
    )
    owned.ids["schedule_id"] = schedule["schedule"]["_id"]
    assert part


async def _reuse(a: Team, owned: Owned) -> None:
    wid = owned.ids["workflow_id"]
    hi = await a.client.get("/v1/nodes", params={"workflow_id": wid})
    hi_ids = [n["_id"] for n in hi.json()["nodes"]][:1]
    template = await _ok(
        await a.client.post("/v1/templates", json={"workflow_id": wid})
    )
    owned.ids["template_id"] = template["workflow_template"]["_id"]
    library = await _ok(
        await a.client.post("/v1/node-libraries", json={"name": "A", "nodes": hi_ids})
    )
    owned.ids["library_id"] = library["node_library"]["_id"]
    prompt = await _ok(
        await a.client.post(
            "/v1/managed-prompts", json={"name": "a_voice", "text": "Hello from A"}
        )
    )
    owned.ids["name"] = prompt["managed_prompt"]["name"]
    await _ok(
        await a.client.put(
            f"/v1/workflows/{wid}/super-node-interface",
            json={
                "interface": {
                    **INTERFACE,
                    "input_fields": INTERFACE["input_fields"][:1],
                }
            },
        )
    )
    await _ok(
        await a.client.put(
            "/v1/teams/current/credentials/openai",
            json={"api_key": "sk-team-a-secret-987654"},
        )
    )
    await _ok(await a.client.post(f"/v1/workflows/{wid}/favorite"))


async def _simulation(a: Team, owned: Owned) -> None:
    wid = owned.ids["workflow_id"]
    side = {"workflow_id": wid}
    simulation = await _ok(
        await a.client.post(
            "/v1/simulations",
            json={"selected_workflow": side, "counter_workflow": side},
        )
    )
    sid = owned.ids["simulation_id"] = simulation["simulation"]["id"]
    group = await _ok(await a.client.post(f"/v1/simulations/{sid}/run", json={}))
    owned.ids["group_id"] = group["simulation_group"]["id"]


async def _webhook(a: Team, owned: Owned) -> None:
    hook = await _ok(
        await a.client.post(
            "/v1/workflow-webhooks",
            json={
                "name": "A hook",
                "url": "https://hooks.example.com/a",
                "actions": ["workflow_created"],
            },
        )
    )
    owned.ids["webhook_id"] = hook["_id"] if "_id" in hook else hook["id"]
    await _ok(await a.client.post("/v1/workflows", json={"name": "fires the hook"}))
    events = await _ok(await a.client.get("/v1/workflow-webhooks/events"))
    owned.webhook_event_id = events["events"][0]["_id"]


async def _knowledge(a: Team, owned: Owned) -> None:
    kb = await _ok(await a.client.post("/v1/knowledge-bases", json={"name": "A"}))
    kb_id = owned.ids["kb_id"] = kb["knowledge_base"]["id"]
    doc = await _ok(
        await a.client.post(
            f"/v1/knowledge-bases/{kb_id}/documents",
            json={"type": "text", "content": "Hello from A"},
        )
    )
    owned.ids["document_id"] = doc["document"]["id"]


async def build_owned(a: Team) -> Owned:
    owned = Owned()
    created = await _ok(await a.client.post("/v1/workflows", json=_graph("A's")))
    wid = owned.ids["workflow_id"] = created["workflow"]["_id"]
    await _ok(await a.client.post(f"/v1/workflows/{wid}/versions", json={}))
    await _runs_and_feedback(a, owned)
    check = await _ok(
        await a.client.post(
            f"/v1/workflows/{wid}/versions/1/replay-check", json={"runs": 1}
        )
    )
    owned.ids["check_id"] = check["replay_check_id"]
    await _team_resources(a, owned)
    await _reuse(a, owned)
    await _simulation(a, owned)
    await _webhook(a, owned)
    await _knowledge(a, owned)
    return owned


@pytest.fixture
async def world(store: Store, settings: Settings) -> AsyncIterator[World]:
    clock = iter(range(1_700_000_000, 1_800_000_000))
    llm = ScriptedLLM(["ok"] * 100)  # LLM config tests answer from it
    runtime = Runtime(llm=llm, clock=lambda: float(next(clock)))
    app = create_app(settings, store=store, runtime=runtime)
    await bootstrap(store, settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://a") as ca,
        httpx.AsyncClient(transport=transport, base_url="http://b") as cb,
    ):
        a, b = await make_team(store, ca), await make_team(store, cb)
        owned = await build_owned(a)
        await runtime.drain()  # A's document is ingested before B calls
        yield World(app, a, b, owned)
    await runtime.drain()


# ------------------------------------------------------------ the battery


def _url(path: str, owned: Owned) -> str:
    values = {
        **owned.ids,
        "part_id": _part_id(path, owned),
        "event_id": owned.webhook_event_id
        if path.startswith("/v1/workflow-webhooks")
        else owned.event_id,
        "version_number": "1",
        "v1": "0",
        "v2": "1",
        "turn_index": "0",
        "vendor": "openai",
        "node_type": "say_static",
        "edge_type": "direct",
        "tool_type": "inline_python",
        "key": "get_current_time",
    }
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    return path


def _part_id(path: str, owned: Owned) -> str:
    for kind in ("node", "edge", "tool"):
        if path.startswith(f"/v1/{kind}s/"):
            return owned.ids[f"{kind}_id"]
    return ""


async def snapshot(a: Team, owned: Owned) -> list[Any]:
    """Everything A can read about its objects, through A's own key."""
    wid, rid = owned.ids["workflow_id"], owned.ids["run_id"]
    reads = [
        f"/v1/workflows/{wid}?fully_hydrate=true",
        f"/v1/workflows/{wid}/versions",
        f"/v1/workflows/{wid}/versions/1",
        f"/v1/workflow-runs/{rid}",
        f"/v1/nodes/{owned.ids['node_id']}",
        f"/v1/edges/{owned.ids['edge_id']}",
        f"/v1/tools/{owned.ids['tool_id']}",
        f"/v1/llm-configs/{owned.ids['llm_config_id']}",
        f"/v1/global-variables/{owned.ids['variable_id']}",
        f"/v1/workflow-schedules/{owned.ids['schedule_id']}",
        f"/v1/templates/{owned.ids['template_id']}",
        f"/v1/node-libraries/{owned.ids['library_id']}",
        f"/v1/simulations/{owned.ids['simulation_id']}",
        f"/v1/simulations/{owned.ids['simulation_id']}/runs",
        f"/v1/simulation-runs/{owned.ids['group_id']}",
        f"/v1/simulation-runs/{owned.ids['group_id']}/executions",
        f"/v1/managed-prompts/{owned.ids['name']}",
        "/v1/managed-prompts",
        f"/v1/super-nodes/{wid}",
        f"/v1/knowledge-bases/{owned.ids['kb_id']}",
        f"/v1/knowledge-bases/{owned.ids['kb_id']}/documents",
        "/v1/knowledge-bases",
        "/v1/workflows",
        "/v1/workflow-runs",
        "/v1/workflow-webhooks",
        "/v1/workflow-webhooks/events",
        "/v1/teams/current/concurrency",
        "/v1/teams/current/credentials",
        "/v1/teams/current/run-budget",
        "/v1/global-variables",
        "/v1/llm-configs",
        "/v1/simulations",
    ]
    answers = []
    for url in reads:
        response = await a.client.get(url)
        assert response.status_code == 200, (url, response.text)
        answers.append(response.json())
    return answers


def _leaks(text: str, owned: Owned, sent: str = "") -> list[str]:
    """A's ids and content in ``text`` that B did not send itself (a 404 may echo
    the id it was asked for, as it does for a missing one)."""
    secrets = ["sk-team-a-secret-987654", "Hello from A"]
    ids = [v for v in [*owned.ids.values(), owned.webhook_event_id] if len(v) >= 20]
    return [s for s in [*ids, *secrets] if s in text and s not in sent]


def _missing(owned: Owned) -> Owned:
    """The same names with ids no team has."""
    ids = {k: new_object_id() if is_object_id(v) else v for k, v in owned.ids.items()}
    return Owned(ids, owned.event_id, new_object_id())


async def _call(
    world: World, operation: str, case: Case, owned: Owned
) -> tuple[httpx.Response, str]:
    """B's answer, and what B sent (URL and body)."""
    method, path = operation.split(" ", 1)
    body = (case.body or _none)(owned)
    url = _url(path, owned)
    if method in ("POST", "PUT", "PATCH"):
        response = await world.b.client.request(method, url, json=body or {})
    else:
        response = await world.b.client.request(method, url)
    return response, url + json.dumps(body)


def _judge(
    operation: str, case: Case, response: httpx.Response, owned: Owned, sent: str
) -> str:
    status = response.status_code
    if case.expect == "missing":
        if not 400 <= status < 500:
            return f"{operation}: {status} {response.text[:200]}"
    elif case.expect == "404":
        if status != 404 or response.json().get("code") != "not_found":
            return f"{operation}: {status} {response.text[:200]}"
    elif case.expect == "refused":
        if not 400 <= status < 500:
            return f"{operation}: accepted ({status}) {response.text[:200]}"
    elif status >= 500:
        return f"{operation}: {status} {response.text[:200]}"
    leaked = _leaks(response.text, owned, sent)
    if leaked:
        return f"{operation}: shows A's {leaked}"
    return ""


def _shape(response: httpx.Response) -> tuple[int, Any]:
    code = response.json().get("code") if response.content else None
    return response.status_code, code


async def test_another_teams_ids_behave_like_missing_ones_on_every_route(
    world: World,
):
    before = await snapshot(world.a, world.owned)
    missing = _missing(world.owned)
    wrong = []
    for operation, case in sorted(CASES.items()):
        response, sent = await _call(world, operation, case, world.owned)
        wrong.append(_judge(operation, case, response, world.owned, sent))
        if case.expect in ("404", "missing"):  # exactly like ids no team has
            control, _ = await _call(world, operation, case, missing)
            if _shape(control) != _shape(response):
                wrong.append(f"{operation}: {_shape(response)} != {_shape(control)}")
    problems = [w for w in wrong if w]
    assert not problems, "\n".join(problems)
    assert await snapshot(world.a, world.owned) == before


async def test_a_super_node_cannot_embed_another_teams_workflow(world: World):
    body = _graph("B embeds A")
    body["node_configs"].append(
        {
            "type": "super_node",
            "logical_id": "node_sub",
            "super_workflow_id": world.owned.ids["workflow_id"],
        }
    )
    body["edge_configs"].append(edge("edge_in", "node_hi", "node_sub"))
    created = await world.b.client.post("/v1/workflows", json=body)
    if created.status_code == 200:
        wid = created.json()["workflow"]["_id"]
        preview = await world.b.client.post(f"/v1/workflows/{wid}/expand-preview")
        assert 400 <= preview.status_code < 500, preview.text
        assert not _leaks(preview.text, world.owned, world.owned.ids["workflow_id"])
        run = await world.b.client.post(
            f"/v1/workflows/{wid}/execute", json={"run_input": START}
        )
        assert 400 <= run.status_code < 500, run.text
        assert not _leaks(run.text, world.owned, world.owned.ids["workflow_id"])
    else:
        assert 400 <= created.status_code < 500


async def _socket_answer(world: World, frame: JsonDict) -> str:
    headers = {"Authorization": f"Bearer {world.b.key}"}
    client = WebSocketClient(world.app, "/v1/workflow-runs/ws", headers)
    async with client as ws:
        await ws.send(frame)
        try:
            answer = await ws.receive()
        except Closed as closed:
            return f"closed {closed.code}: {closed.reason}"
        return json.dumps(answer)


def _masked(answer: str, frame: JsonDict) -> str:
    """The answer with the ids the frame sent blanked (a missing id is echoed)."""
    for value in frame.values():
        if isinstance(value, str) and len(value) >= 20:
            answer = answer.replace(value, "<id>")
    return answer


async def test_the_websocket_refuses_another_teams_runs_and_workflows(world: World):
    owned = world.owned
    frames: list[JsonDict] = [
        {**START, "workflow_id": owned.ids["workflow_id"]},
        {
            "workflow_id": owned.ids["workflow_id"],
            "workflow_run_id": owned.ids["run_id"],
            "command": "data",
        },
        {"type": "attach", "workflow_run_id": owned.ids["run_id"], "after_seq": 0},
        {"rerun_token": owned.ids["token"]},
    ]
    controls = [dict(f) for f in frames]  # the same frames naming no one's ids
    for control in controls:
        for key in control.keys() & {"workflow_id", "workflow_run_id"}:
            control[key] = new_object_id()
        if "rerun_token" in control:
            control["rerun_token"] = "rrt_" + new_object_id()
    for frame, control in zip(frames, controls, strict=True):
        answer = await asyncio.wait_for(_socket_answer(world, frame), 30)
        expected = await asyncio.wait_for(_socket_answer(world, control), 30)
        assert _masked(answer, frame) == _masked(expected, control), frame
        assert not _leaks(answer, owned, json.dumps(frame)), answer
