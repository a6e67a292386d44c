"""Super-node expansion: inlining embedded workflows before a run compiles its graph.

``expand_super_nodes(hydrated, children)`` returns a copy of a fully hydrated config
in which no ``super_node`` is left (the input is not modified). ``children`` maps a
super node's logical id to the child's fully hydrated config; the caller resolves it
(from ``encapsulated_workflow_config``, the pinned ``super_workflow_version_number``
or the child workflow's active version). A super node missing from ``children``
falls back to its own ``encapsulated_workflow_config``.

Order of work for each super node ``S`` (recursively, innermost children first):

1. ``S`` disabled: it is not expanded; it becomes a disabled ``no_op`` with the same
   id and edges, which the engine skips like any disabled node (report warning).
2. Depth, size and cycle checks: at most ``max_depth`` (5) levels and
   ``max_nodes`` (10,000) nodes once inlined; a child whose
   ``super_workflow_id`` is already being expanded (the root's ``workflow_id``
   included) is a cycle. Both are checked before the child is looked up.
3. ``S.field_values`` are checked and applied to a copy of the child through the
   interface mappings (``supernode_fields``), against the child's own ids.
4. The child's own super nodes are expanded. Their ``children`` keys are their
   *namespaced* ids: a super node ``T`` inside the child of ``S`` is ``S__T``.
5. The expanded child is spliced in place of ``S`` (``supernode_splice``): ids are
   namespaced ``S__<id>``, entries, exits, globals, the reverse edge and the LLM
   override are carried over. Overrides therefore reach nested nodes too.

Every problem of every super node is collected; if any, ``ExpansionError`` lists
them all (``.problems``) and nothing is returned.

``origins`` maps every inlined node and edge id (child ids and projected exit edges)
to the namespaced id of the super node it came from (the innermost one when nested).
``report`` is JSON: ``{"super_nodes": [{logical_id, super_workflow_id,
super_workflow_version_number, depth, source, nodes, edges}], "warnings": [...]}``.

Markers left for the engine (see ``runtime_seed``, ``reverse_origin`` and
``supernode_refs``): edge ``super_node_exit_origin``; node
``miscellaneous.super_node_runtime_variables`` (variables to set in the thread on
entering the node), ``miscellaneous.super_node_variable_refs`` (field values that
name a variable of the caller, resolved on entering the node) and
``miscellaneous.super_node_reverse_origin`` (the node offers its
``global_node_config.reverse_conditional_edge`` although it is not global itself).
"""

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.supernode_fields import inject
from threadline.engine.supernode_splice import (
    EXIT_KEY,
    REVERSE_KEY,
    SEED_KEY,
    SEP,
    splice,
)

JsonDict = dict[str, Any]

MAX_DEPTH = 5
MAX_NODES = 10_000
"""Most nodes a config may have once its super nodes are inlined: nesting
multiplies sizes, so the expansion stops as soon as it is over."""
SUPER_NODE = "super_node"

__all__ = [
    "EXIT_KEY",
    "MAX_DEPTH",
    "SEP",
    "ExpansionError",
    "ExpansionResult",
    "expand_super_nodes",
    "has_super_nodes",
    "reverse_origin",
    "runtime_seed",
]


class ExpansionError(ValueError):
    """The super nodes cannot be expanded; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ExpansionResult:
    """The expanded config, where inlined ids came from, and a JSON report."""

    hydrated: JsonDict
    origins: dict[str, str]
    report: JsonDict


@dataclass(slots=True)
class _Ctx:
    children: Mapping[str, JsonDict]
    max_depth: int
    max_nodes: int = MAX_NODES
    over: bool = False
    """Some expansion went over ``max_nodes``: expand nothing more."""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    entries: list[JsonDict] = field(default_factory=list)


def has_super_nodes(hydrated: JsonDict) -> bool:
    """Whether the config holds any ``super_node``."""
    return any(n.get("type") == SUPER_NODE for n in _nodes(hydrated))


def runtime_seed(node: JsonDict) -> JsonDict:
    """Runtime variables a thread gets on entering ``node`` (an inlined start)."""
    seed = (node.get("miscellaneous") or {}).get(SEED_KEY)
    return dict(seed) if isinstance(seed, dict) else {}


def reverse_origin(node: JsonDict) -> str | None:
    """The super node whose reverse edge was stamped on ``node``, if any."""
    origin = (node.get("miscellaneous") or {}).get(REVERSE_KEY)
    return origin if isinstance(origin, str) else None


def _nodes(hydrated: JsonDict) -> list[JsonDict]:
    return [n for n in hydrated.get("node_configs") or [] if isinstance(n, dict)]


def _disable(hydrated: JsonDict, sn: JsonDict) -> None:
    keep = ("logical_id", "name", "description", "workflow_id", "version_number")
    placeholder = {k: sn[k] for k in keep if k in sn}
    placeholder.update(
        type="no_op",
        disabled=True,
        is_start=bool(sn.get("is_start")),
        miscellaneous=deepcopy(sn.get("miscellaneous") or {}),
    )
    hydrated["node_configs"] = [
        placeholder if n is sn else n for n in hydrated.get("node_configs") or []
    ]


def _child(ctx: _Ctx, sn: JsonDict, full: str) -> tuple[JsonDict | None, str]:
    if full in ctx.children:
        return deepcopy(dict(ctx.children[full])), "resolved"
    encapsulated = sn.get("encapsulated_workflow_config")
    if isinstance(encapsulated, dict):
        return deepcopy(encapsulated), "encapsulated"
    return None, "missing"


def _blocked(
    sn: JsonDict, full: str, chain: tuple[str, ...], depth: int, ctx: _Ctx
) -> bool:
    wid = sn.get("super_workflow_id")
    if depth > ctx.max_depth:
        ctx.problems.append(
            f"super node {full!r}: nesting deeper than {ctx.max_depth} levels"
        )
        return True
    if wid and wid in chain:
        path = " -> ".join([*chain, str(wid)])
        ctx.problems.append(f"super node {full!r}: cycle of workflows {path}")
        return True
    return False


def _expand_one(
    graph: JsonDict,
    sn: JsonDict,
    path: str,
    chain: tuple[str, ...],
    depth: int,
    ctx: _Ctx,
) -> dict[str, str]:
    full = path + str(sn.get("logical_id"))
    say = f"super node {full!r}: "
    if _blocked(sn, full, chain, depth, ctx):
        return {}
    child, source = _child(ctx, sn, full)
    if child is None:
        wid = sn.get("super_workflow_id")
        ctx.problems.append(f"{say}no child config for workflow {wid!r}")
        return {}
    injection = inject(child, sn)
    ctx.problems.extend(say + p for p in injection.problems)
    ctx.warnings.extend(say + w for w in injection.warnings)
    wid = sn.get("super_workflow_id")
    inner_chain = (*chain, str(wid)) if wid else chain
    before = len(ctx.problems)
    child_origins = _expand(child, ctx, full + SEP, inner_chain, depth + 1)
    if injection.problems or len(ctx.problems) > before:
        return {}
    done = splice(graph, sn, child, injection, child_origins)
    if len(_nodes(graph)) > ctx.max_nodes:
        ctx.over = True
        ctx.problems.append(
            f"{say}the expanded workflow has more than {ctx.max_nodes} nodes"
        )
        return {}
    ctx.problems.extend(say + p for p in done.problems)
    ctx.warnings.extend(say + w for w in done.warnings)
    ctx.entries.append(
        {
            "logical_id": full,
            "super_workflow_id": wid,
            "super_workflow_version_number": sn.get("super_workflow_version_number"),
            "depth": depth,
            "source": source,
            "nodes": done.nodes,
            "edges": done.edges,
        }
    )
    return done.origins


def _expand(
    graph: JsonDict, ctx: _Ctx, path: str, chain: tuple[str, ...], depth: int
) -> dict[str, str]:
    """Expand every super node of ``graph`` in place; return the new ids' origins."""
    origins: dict[str, str] = {}
    for sn in [n for n in _nodes(graph) if n.get("type") == SUPER_NODE]:
        if ctx.over:
            break
        if sn.get("disabled"):
            _disable(graph, sn)
            ctx.warnings.append(
                f"super node {path + str(sn.get('logical_id'))!r} is disabled: "
                "not expanded, skipped at run time"
            )
            continue
        origins.update(_expand_one(graph, sn, path, chain, depth, ctx))
    return origins


def expand_super_nodes(
    hydrated: JsonDict,
    children: Mapping[str, JsonDict],
    *,
    workflow_id: str | None = None,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> ExpansionResult:
    """Inline every super node of ``hydrated`` (see the module docstring)."""
    ctx = _Ctx(children=children, max_depth=max_depth, max_nodes=max_nodes)
    graph = deepcopy(hydrated)
    chain = (workflow_id,) if workflow_id else ()
    origins = _expand(graph, ctx, "", chain, 1)
    if ctx.problems:
        raise ExpansionError(ctx.problems)
    report = {"super_nodes": ctx.entries, "warnings": ctx.warnings}
    return ExpansionResult(hydrated=graph, origins=origins, report=report)
