"""Workflow pages: the list with search, and one workflow with its versions and
the drawn graph of a version (validation problems on their nodes and edges)."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threadline.api.console import graph_svg
from threadline.api.console.web import VisitorDep, page
from threadline.api.deps import StoreDep
from threadline.errors import NotFound
from threadline.ids import is_object_id
from threadline.service.definitions import graph, workflows
from threadline.store import Query

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def checked_id(kind: str, value: str) -> str:
    """A path id, or the same 404 an unknown one gets."""
    if not is_object_id(value):
        raise NotFound(f"no {kind} with id {value!r}")
    return value


@router.get("/ui/workflows")
async def list_page(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    search: str = "",
    page_number: int = 1,
) -> Response:
    """The team's workflows, newest first; ``search`` matches name and description."""
    query = Query(page=max(page_number, 1), size=PAGE_SIZE, search=search or None)
    items, total = await workflows.list_(store, visitor.caller, query)
    return page(
        request,
        "workflows.html",
        visitor=visitor,
        items=items,
        total=total,
        search=search,
        page_number=query.page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
    )


def problem_marks(problems: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Problems by the node or edge logical id they concern."""
    marks: dict[str, list[str]] = {}
    for p in problems:
        where = p.get("node_logical_id") or p.get("edge_logical_id")
        if where:
            marks.setdefault(str(where), []).append(f"{p['severity']}: {p['message']}")
    return marks


async def version_view(
    store: StoreDep, visitor: VisitorDep, workflow_id: str, version: int | None
) -> dict[str, Any]:
    """The workflow (hydrated at ``version``), its problems and its drawing."""
    doc = await workflows.get(
        store, visitor.caller, workflow_id, hydrate=True, version_number=version
    )
    config = doc["workflow_config"]
    problems = graph.problems(config)
    svg = graph_svg.draw(config, graph_svg.Marks(problems=problem_marks(problems)))
    shown = doc["active_version_number"] if version is None else version
    return {
        "doc": doc,
        "config": config,
        "problems": problems,
        "svg": svg,
        "shown": shown,
    }


@router.get("/ui/workflows/{workflow_id}")
async def detail_page(
    request: Request,
    visitor: VisitorDep,
    store: StoreDep,
    workflow_id: str,
    version: int | None = None,
) -> Response:
    """One workflow: versions (active marked), the graph, problems, companions."""
    view = await version_view(
        store, visitor, checked_id("workflow", workflow_id), version
    )
    edges = view["config"].get("edge_configs") or []
    companions = [e for e in edges if graph_svg.edge_kind(e) == "companion"]
    return page(
        request,
        "workflow.html",
        visitor=visitor,
        companions=companions,
        edge_label=graph_svg.edge_label,
        edge_kind=graph_svg.edge_kind,
        **view,
    )
