"""Inlining one (already expanded) child workflow in place of its super node.

- **Ids**: every child node and edge id becomes ``<super id>__<child id>``; edge
  endpoints (dangling ones too, so they never hit a parent node),
  ``evaluate_while_waiting_config.trigger_node_logical_ids`` and nested provenance
  markers follow. A namespaced id already used in the parent is an error.
- **Entry**: edges into the super node now enter the child's start node, which
  takes the super node's ``is_start`` (so it loses its own unless the super node
  was the parent's start) and its ``global_node_config`` ``is_global``,
  ``condition`` and ``global_condition_edge_evaluation_method``.
- **Exits**: the child's terminal nodes are those with no enabled outgoing edge.
  A non-conditional edge out of the super node (direct, companion) is copied from
  every terminal node; a conditional one is copied from every interior LLM node
  (``say_llm``/``worker_llm``; the terminal nodes when there is none) and carries
  ``super_node_exit_origin``. Copies are named ``<edge id>__<new source id>``.
  Edges *into* the super node are redirected after exits are projected, so a
  self-edge of the super node becomes terminal → child start.
- **Reverse edge**: a global super node's ``reverse_conditional_edge`` is stamped on
  the interior LLM nodes (``reverse_edge_scope`` ``all_interior_llm_nodes``, the
  default) or on the terminal LLM nodes only (``terminal_nodes``); each stamped node
  is marked ``miscellaneous.super_node_reverse_origin``.
- **LLM override** (``override_llm_config``): interior LLM nodes — all of them, or
  only those on the workflow default (no ``attachable_llm_config_id`` and no
  ``llms_config`` or a ``global_default_llm`` one) when
  ``override_only_workflow_default_nodes`` — get the super node's
  ``attachable_llm_config_id`` and ``llms_config``.
- **Workflow-level config**: the child's ``workflow_config`` is dropped (the parent's
  LLM, prompt prefix/suffix and tools apply to inlined nodes, as they would to any
  node on the workflow default), except ``miscellaneous.default_dynamic_variables``
  and the hydrated ``dynamic_variables``, merged under the parent's (the parent wins;
  a differing value is a warning). Interface-mapped dynamic variables must not
  contradict an existing default (error). Runtime variables (the child's hydrated
  ``runtime_variables`` under the interface-mapped ones) go to the start node's
  ``miscellaneous.super_node_runtime_variables``; field values that reference a
  variable of the caller go to its ``miscellaneous.super_node_variable_refs`` (an
  enclosing super node's before a nested one's), resolved on entry.
"""

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.supernode_fields import Injection

JsonDict = dict[str, Any]

SEP = "__"
LLM_TYPES = frozenset({"say_llm", "worker_llm"})
EXIT_KEY = "super_node_exit_origin"
REVERSE_KEY = "super_node_reverse_origin"
SEED_KEY = "super_node_runtime_variables"
REFS_KEY = "super_node_variable_refs"
_GLOBAL_KEYS = ("is_global", "condition", "global_condition_edge_evaluation_method")

__all__ = ["LLM_TYPES", "SEP", "Spliced", "splice"]


@dataclass(slots=True)
class Spliced:
    """Outcome of inlining one child: new ids' origins and diagnostics."""

    origins: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nodes: int = 0
    edges: int = 0


def _misc(config: JsonDict) -> JsonDict:
    misc = config.get("miscellaneous")
    if not isinstance(misc, dict):
        misc = config["miscellaneous"] = {}
    return misc


def _rename_edge(edge: JsonDict, prefix: str) -> JsonDict:
    out = deepcopy(edge)
    out["logical_id"] = prefix + str(edge.get("logical_id"))
    for key in ("source_node_logical_id", "destination_node_logical_id"):
        out[key] = prefix + str(edge.get(key))
    if out.get(EXIT_KEY):
        out[EXIT_KEY] = prefix + str(out[EXIT_KEY])
    ewaw = out.get("evaluate_while_waiting_config")
    if isinstance(ewaw, dict) and ewaw.get("trigger_node_logical_ids"):
        ewaw["trigger_node_logical_ids"] = [
            prefix + str(t) for t in ewaw["trigger_node_logical_ids"]
        ]
    return out


def _rename_node(node: JsonDict, prefix: str) -> JsonDict:
    out = deepcopy(node)
    out["logical_id"] = prefix + str(node.get("logical_id"))
    out["is_start"] = False
    misc = out.get("miscellaneous")
    if isinstance(misc, dict) and misc.get(REVERSE_KEY):
        misc[REVERSE_KEY] = prefix + str(misc[REVERSE_KEY])
    return out


def _terminals(nodes: list[JsonDict], edges: list[JsonDict]) -> list[JsonDict]:
    sources = {e.get("source_node_logical_id") for e in edges if not e.get("disabled")}
    return [n for n in nodes if n["logical_id"] not in sources]


def _on_default_llm(node: JsonDict) -> bool:
    own = node.get("llms_config")
    explicit = isinstance(own, dict) and own.get("type") != "global_default_llm"
    return not explicit and not node.get("attachable_llm_config_id")


def _override_llm(sn: JsonDict, llm_nodes: list[JsonDict], out: Spliced) -> None:
    if not sn.get("override_llm_config"):
        return
    if not sn.get("llms_config") and not sn.get("attachable_llm_config_id"):
        out.warnings.append("override_llm_config is set without any LLM config")
        return
    only_default = bool(sn.get("override_only_workflow_default_nodes"))
    for node in llm_nodes:
        if not only_default or _on_default_llm(node):
            node["attachable_llm_config_id"] = sn.get("attachable_llm_config_id")
            node["llms_config"] = deepcopy(sn.get("llms_config"))


def _entry(sn: JsonDict, start: JsonDict, child: JsonDict, inj: Injection) -> None:
    """Give the child's start node the super node's start and global settings."""
    start["is_start"] = bool(sn.get("is_start"))
    own = sn.get("global_node_config") or {}
    if own.get("is_global"):
        gnc = dict(start.get("global_node_config") or {})
        gnc.update({k: deepcopy(own[k]) for k in _GLOBAL_KEYS if k in own})
        start["global_node_config"] = gnc
    seed = {**(child.get("runtime_variables") or {}), **inj.runtime}
    if seed:
        misc = _misc(start)
        misc[SEED_KEY] = {**(misc.get(SEED_KEY) or {}), **deepcopy(seed)}
    if inj.refs:
        misc = _misc(start)
        refs = [{**r, "super_node": sn.get("logical_id")} for r in inj.refs]
        misc[REFS_KEY] = [*refs, *(misc.get(REFS_KEY) or [])]


def _reverse(sn: JsonDict, llm: list[JsonDict], terminal: list[JsonDict]) -> None:
    own = sn.get("global_node_config") or {}
    reverse = own.get("reverse_conditional_edge")
    if not own.get("is_global") or not reverse:
        return
    terminal_ids = {n["logical_id"] for n in terminal}
    scoped = sn.get("reverse_edge_scope") == "terminal_nodes"
    for node in llm:
        if scoped and node["logical_id"] not in terminal_ids:
            continue
        gnc = dict(node.get("global_node_config") or {})
        gnc["reverse_conditional_edge"] = deepcopy(reverse)
        node["global_node_config"] = gnc
        _misc(node)[REVERSE_KEY] = sn["logical_id"]


def _project(edge: JsonDict, sid: str, sources: list[str]) -> list[JsonDict]:
    out = []
    for source in sources:
        copy = deepcopy(edge)
        copy["logical_id"] = f"{edge.get('logical_id')}{SEP}{source}"
        copy["source_node_logical_id"] = source
        if edge.get("type") == "conditional":
            copy[EXIT_KEY] = sid
        out.append(copy)
    return out


def _rewire(
    parent: JsonDict, sid: str, start: str, llm: list[str], terminal: list[str]
) -> tuple[list[JsonDict], list[str]]:
    """Parent edges with exits projected and entries redirected."""
    edges: list[JsonDict] = []
    warnings: list[str] = []
    for edge in parent.get("edge_configs") or []:
        if edge.get("source_node_logical_id") != sid:
            edges.append(edge)
            continue
        conditional = edge.get("type") == "conditional"
        sources = (llm or terminal) if conditional else terminal
        if not sources:
            warnings.append(
                f"exit edge {edge.get('logical_id')!r} dropped: the child has no "
                f"{'LLM or ' if conditional else ''}terminal node"
            )
        edges.extend(_project(edge, sid, sources))
    for edge in edges:
        if edge.get("destination_node_logical_id") == sid:
            edge["destination_node_logical_id"] = start
        ewaw = edge.get("evaluate_while_waiting_config")
        if isinstance(ewaw, dict) and sid in (
            ewaw.get("trigger_node_logical_ids") or []
        ):
            triggers = ewaw["trigger_node_logical_ids"]
            ewaw["trigger_node_logical_ids"] = [
                t for x in triggers for t in (terminal if x == sid else [x])
            ]
    return edges, warnings


def _merge_variables(
    parent: JsonDict, child: JsonDict, inj: Injection, out: Spliced
) -> None:
    defaults = _misc(parent.setdefault("workflow_config", {})).setdefault(
        "default_dynamic_variables", {}
    )
    for name, value in inj.dynamic.items():
        if name in defaults and defaults[name] != value:
            out.problems.append(
                f"dynamic variable {name!r}: mapped value {value!r} contradicts the "
                f"existing default {defaults[name]!r}"
            )
        defaults[name] = value
    child_misc = (child.get("workflow_config") or {}).get("miscellaneous") or {}
    top = parent.setdefault("dynamic_variables", {})
    pairs = (
        (defaults, child_misc.get("default_dynamic_variables") or {}),
        (top, child.get("dynamic_variables") or {}),
    )
    for target, source in pairs:
        for name, value in source.items():
            if name in target and target[name] != value:
                out.warnings.append(
                    f"dynamic variable {name!r}: the parent's {target[name]!r} is kept "
                    f"over the child's {value!r}"
                )
            target.setdefault(name, deepcopy(value))


def splice(
    parent: JsonDict,
    sn: JsonDict,
    child: JsonDict,
    inj: Injection,
    child_origins: dict[str, str],
) -> Spliced:
    """Replace super node ``sn`` of ``parent`` (mutated) by the ``child`` graph."""
    out = Spliced()
    sid = str(sn["logical_id"])
    prefix = sid + SEP
    child_nodes = [n for n in child.get("node_configs") or [] if isinstance(n, dict)]
    starts = [n for n in child_nodes if n.get("is_start")]
    if not starts:
        out.problems.append("the child workflow has no start node")
        return out
    ids = {
        str(n.get("logical_id")): prefix + str(n.get("logical_id")) for n in child_nodes
    }
    nodes = [_rename_node(n, prefix) for n in child_nodes]
    edges = [_rename_edge(e, prefix) for e in child.get("edge_configs") or []]
    taken = {n.get("logical_id") for n in parent.get("node_configs") or []}
    taken |= {e.get("logical_id") for e in parent.get("edge_configs") or []}
    clashes = sorted(
        i for i in [*ids.values(), *(e["logical_id"] for e in edges)] if i in taken
    )
    if clashes:
        out.problems.append(f"inlined ids already used in the parent: {clashes}")
        return out
    by_id = {n["logical_id"]: n for n in nodes}
    start = by_id[ids[str(starts[0].get("logical_id"))]]
    llm = [n for n in nodes if n.get("type") in LLM_TYPES]
    terminal = _terminals(nodes, edges)
    _override_llm(sn, llm, out)
    _entry(sn, start, child, inj)
    _reverse(sn, llm, [n for n in terminal if n.get("type") in LLM_TYPES])
    parent_edges, warnings = _rewire(
        parent,
        sid,
        start["logical_id"],
        [n["logical_id"] for n in llm],
        [n["logical_id"] for n in terminal],
    )
    out.warnings.extend(warnings)
    projected = [e for e in parent_edges if e.get("logical_id") not in taken]
    _merge_variables(parent, child, inj, out)
    parent["node_configs"] = [
        m for n in parent.get("node_configs") or [] for m in (nodes if n is sn else [n])
    ]
    parent["edge_configs"] = [*parent_edges, *edges]
    for new_id in [*by_id, *(e["logical_id"] for e in edges)]:
        local = new_id[len(prefix) :]
        inner = child_origins.get(local)
        out.origins[new_id] = prefix + inner if inner else sid
    out.origins.update({e["logical_id"]: sid for e in projected})
    out.nodes, out.edges = len(nodes), len(edges)
    return out
