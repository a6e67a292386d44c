"""A version's graph: its workflow config plus the node and edge documents.

Nodes and edges are stored as separate documents tagged with their workflow and
version; the version's ``workflow_config.nodes``/``edges`` id lists are derived from
them on read, so there is one source of truth.
"""

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from threadline.engine.validate import validate_workflow
from threadline.errors import GraphInvalid, InvalidField
from threadline.ids import new_object_id
from threadline.providers.prices import price
from threadline.service.caller import Caller
from threadline.service.definitions import wire
from threadline.service.definitions.references import reference_warnings
from threadline.store import Document, Query, Transaction

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Graph:
    """A fully hydrated workflow version, as plain validated JSON."""

    workflow_config: JsonDict
    node_configs: list[JsonDict] = field(default_factory=list)
    edge_configs: list[JsonDict] = field(default_factory=list)
    dynamic_variables: JsonDict = field(default_factory=dict)
    runtime_variables: JsonDict = field(default_factory=dict)
    node_ids: list[str] = field(default_factory=list)
    edge_ids: list[str] = field(default_factory=list)

    def hydrated(self) -> JsonDict:
        """Render as ``WorkflowConfigFullyHydrated``."""
        return {
            "workflow_config": self.config_with_ids(),
            "node_configs": self.node_configs,
            "edge_configs": self.edge_configs,
            "dynamic_variables": self.dynamic_variables,
            "runtime_variables": self.runtime_variables,
        }

    def config_with_ids(self) -> JsonDict:
        """The workflow config with its ``nodes``/``edges`` DB id lists filled in."""
        return {**self.workflow_config, "nodes": self.node_ids, "edges": self.edge_ids}


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Ceilings on one version's graph (``THREADLINE_MAX_GRAPH_*``)."""

    max_nodes: int = 2_000
    max_edges: int = 10_000
    max_entity_bytes: int = 200_000
    """Largest node or edge config, as compact UTF-8 JSON."""


def _too_large(field: str, message: str) -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        code="graph_too_large",
        details=[{"field": field, "message": message, "type": "graph_too_large"}],
    )


def check_size(raw: JsonDict, limits: GraphLimits, prefix: str = "") -> None:
    """Refuse a hydrated payload over ``limits`` (422 ``graph_too_large``).

    Checked before anything else reads the graph, so a huge one costs no more
    than counting it.
    """
    dot = f"{prefix}." if prefix else ""
    for key, most in (
        ("node_configs", limits.max_nodes),
        ("edge_configs", limits.max_edges),
    ):
        entries = raw.get(key)
        if not isinstance(entries, list):
            continue
        if len(entries) > most:
            raise _too_large(f"{dot}{key}", f"{len(entries)} entries, at most {most}")
        for index, entry in enumerate(entries):
            text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
            size = len(text.encode("utf-8"))
            if size > limits.max_entity_bytes:
                where = f"{dot}{key}.{index}"
                most_bytes = limits.max_entity_bytes
                raise _too_large(where, f"{size} bytes of JSON, at most {most_bytes}")


def parse_hydrated(
    raw: JsonDict, prefix: str = "", limits: GraphLimits | None = None
) -> Graph:
    """Validate a hydrated payload field by field (422 on the first bad field)."""
    wire.check_graph_shape(raw, prefix)
    check_size(raw, limits or GraphLimits(), prefix)
    dot = f"{prefix}." if prefix else ""
    config = wire.workflow_config(
        raw.get("workflow_config") or {}, f"{dot}workflow_config"
    )
    nodes = [
        wire.node(n, f"{dot}node_configs.{i}")
        for i, n in enumerate(raw.get("node_configs") or [])
    ]
    edges = [
        wire.edge(e, f"{dot}edge_configs.{i}")
        for i, e in enumerate(raw.get("edge_configs") or [])
    ]
    return Graph(
        workflow_config=config,
        node_configs=nodes,
        edge_configs=edges,
        dynamic_variables=dict(raw.get("dynamic_variables") or {}),
        runtime_variables=dict(raw.get("runtime_variables") or {}),
    )


def problems(hydrated: JsonDict) -> list[JsonDict]:
    """Every validation problem (errors and warnings) of a hydrated config."""
    return [
        {
            "code": p.code,
            "message": p.message,
            "severity": p.severity,
            "node_logical_id": p.node_logical_id,
            "edge_logical_id": p.edge_logical_id,
        }
        for p in validate_workflow(hydrated)
    ]


def check(graph: Graph) -> list[JsonDict]:
    """Validate the graph as a whole; raise on errors, return warnings."""
    rendered = problems(graph.hydrated())
    errors = [p for p in rendered if p["severity"] == "error"]
    if errors:
        summary = "; ".join(p["message"] for p in errors)
        raise GraphInvalid(f"workflow is invalid: {summary}", details=rendered)
    warnings = [p for p in rendered if p["severity"] != "error"]
    return warnings + budget_warnings(graph) + reference_warnings(graph.hydrated())


def _models(value: Any) -> set[str]:
    """The model names of every LLM config inside ``value``."""
    found: set[str] = set()
    if isinstance(value, dict):
        model = value.get("model")
        if (
            isinstance(model, str)
            and model
            and str(value.get("type", "")).endswith("_llm")
        ):
            found.add(model)
        for item in value.values():
            found |= _models(item)
    elif isinstance(value, list):
        for item in value:
            found |= _models(item)
    return found


def budget_warnings(graph: Graph) -> list[JsonDict]:
    """A ``max_cost_usd`` the server cannot honour for a model missing from the
    price table (its calls would count as free): one warning per model."""
    budget = graph.workflow_config.get("run_budget")
    if not isinstance(budget, dict) or budget.get("max_cost_usd") is None:
        return []
    models = _models(graph.workflow_config) | _models(graph.node_configs)
    return [
        {
            "code": "run_budget_unpriced_model",
            "message": (
                f"run_budget.max_cost_usd cannot count the calls of model {model!r}: "
                "it is not in the price table, so they count as free"
            ),
            "severity": "warning",
            "node_logical_id": None,
            "edge_logical_id": None,
        }
        for model in sorted(models)
        if price(model, "", 1, 1) is None
    ]


async def load(tx: Transaction, team_id: str, version: Document) -> Graph:
    """Load the graph of a stored version document."""
    assert version.workflow_id is not None  # versions always belong to a workflow
    where = {
        "workflow_id": version.workflow_id,
        "version_number": version.version_number,
    }
    query = Query(equals=where, newest_first=False)
    nodes, _ = await tx.documents("nodes").find(team_id, query)
    edges, _ = await tx.documents("edges").find(team_id, query)
    body = version.body
    return Graph(
        workflow_config=body.get("workflow_config", {}),
        node_configs=[n.body for n in nodes],
        edge_configs=[e.body for e in edges],
        dynamic_variables=body.get("dynamic_variables", {}),
        runtime_variables=body.get("runtime_variables", {}),
        node_ids=[n.id for n in nodes],
        edge_ids=[e.id for e in edges],
    )


def part_document(
    caller: Caller, body: JsonDict, now: datetime, *, doc_id: str | None = None
) -> Document:
    """Build the stored document of a node, edge or tool config."""
    name = body.get("name")
    text = " ".join(
        str(body.get(k) or "") for k in ("name", "description", "logical_id")
    )
    return Document(
        id=doc_id or new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=now,
        updated_at=now,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=body.get("workflow_id"),
        version_number=body.get("version_number"),
        logical_id=body.get("logical_id"),
        type=body.get("type"),
        name=name if isinstance(name, str) else None,
        search_text=text.lower(),
    )


async def store_parts(
    tx: Transaction,
    caller: Caller,
    graph: Graph,
    *,
    workflow_id: str,
    version_number: int,
    now: datetime,
) -> Graph:
    """Replace a version's nodes and edges with the graph's; return it with ids."""
    tag = {"workflow_id": workflow_id, "version_number": version_number}
    result: dict[str, tuple[list[JsonDict], list[str]]] = {}
    for kind, configs in (("nodes", graph.node_configs), ("edges", graph.edge_configs)):
        docs = tx.documents(kind)
        await docs.delete_where(caller.team_id, tag)
        parts = [part_document(caller, {**config, **tag}, now) for config in configs]
        await docs.insert_many(parts)
        result[kind] = ([d.body for d in parts], [d.id for d in parts])
    return replace(
        graph,
        node_configs=result["nodes"][0],
        node_ids=result["nodes"][1],
        edge_configs=result["edges"][0],
        edge_ids=result["edges"][1],
    )
