"""Save-time warnings about references a workflow makes that cannot work.

A workflow may name things that live outside its graph: inbuilt functions by
``tool_id``, knowledge bases, MCP servers, managed prompts. An unknown or
unreachable one never blocks a save (the author may create it next), but the save
answers a warning for each, naming the node and the field::

    {"code": "unknown_inbuilt_tool", "severity": "warning",
     "message": "node_a: tools_config.tools.0.tool_id 'web_serch' is not ...",
     "node_logical_id": "node_a", "edge_logical_id": None,
     "field": "tools_config.tools.0.tool_id"}

The mechanism: every tool config of the graph (a node's ``tool_config``, each of
a node's and the workflow's ``tools_config.tools``) is visited once with where it
sits, and each registered :data:`TOOL_CHECKS` function yields the warnings of one
kind of reference. A feature that brings its own references (knowledge bases,
MCP servers, managed prompts) adds a check here; checks that need the team's
stored resources take them from :class:`Known` (the ids the caller's team has),
which the service fills before validating.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from threadline.ids import is_object_id
from threadline.tools.inbuilt import CONFIGURABLE_INBUILT_TOOLS, INBUILT_TOOLS

__all__ = ["TOOL_CHECKS", "Known", "ToolSite", "reference_warnings"]

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class ToolSite:
    """One tool config of a graph and where it sits."""

    config: JsonDict
    node_logical_id: str | None
    field: str
    """Dotted path of the tool config inside its node (or ``workflow_config``)."""


@dataclass(frozen=True)
class Known:
    """Team resources a check may look references up in (None: not checked)."""

    knowledge_base_ids: frozenset[str] | None = None
    mcp_server_ids: frozenset[str] | None = None
    prompt_ids: frozenset[str] | None = None
    extra: dict[str, frozenset[str]] = field(default_factory=dict)


def warning(code: str, site: ToolSite, key: str, message: str) -> JsonDict:
    """A warning naming the node and the field ``<site.field>.<key>``."""
    where = f"{site.field}.{key}"
    owner = site.node_logical_id or "workflow_config"
    return {
        "code": code,
        "message": f"{owner}: {where} {message}",
        "severity": "warning",
        "node_logical_id": site.node_logical_id,
        "edge_logical_id": None,
        "field": where,
    }


def _inbuilt(site: ToolSite, _: Known) -> Iterator[JsonDict]:
    config = site.config
    if config.get("type") != "inbuilt_function":
        return
    tool_id = config.get("tool_id")
    key = config.get("configurable_key")
    if key is not None and key not in CONFIGURABLE_INBUILT_TOOLS:
        known = ", ".join(sorted(CONFIGURABLE_INBUILT_TOOLS))
        yield warning(
            "unknown_configurable_inbuilt_tool",
            site,
            "configurable_key",
            f"{key!r} is not a configurable inbuilt tool (known: {known})",
        )
    if tool_id is None or is_object_id(tool_id) or tool_id in INBUILT_TOOLS:
        return
    if key is not None and tool_id == key:
        return
    yield warning(
        "unknown_inbuilt_tool",
        site,
        "tool_id",
        f"{tool_id!r} is not an inbuilt function, so a call to it will fail "
        "(GET /v1/tools/inbuilt lists them)",
    )


def _knowledge_bases(site: ToolSite, known: Known) -> Iterator[JsonDict]:
    ids = site.config.get("target_knowledge_base_ids")
    if known.knowledge_base_ids is None or not isinstance(ids, list):
        return
    for index, kb_id in enumerate(ids):
        if kb_id not in known.knowledge_base_ids:
            yield warning(
                "unknown_knowledge_base",
                site,
                f"target_knowledge_base_ids.{index}",
                f"{kb_id!r} is not a knowledge base of this team",
            )


ToolCheck = Callable[[ToolSite, Known], Iterator[JsonDict]]
TOOL_CHECKS: list[ToolCheck] = [_inbuilt, _knowledge_bases]
"""The checks run on every tool config of a graph."""


def _tools_of(owner: JsonDict, prefix: str) -> Iterator[tuple[JsonDict, str]]:
    single = owner.get("tool_config")
    if isinstance(single, dict):
        yield single, f"{prefix}tool_config"
    tools = owner.get("tools_config")
    listed = tools.get("tools") if isinstance(tools, dict) else None
    if isinstance(listed, list):
        for index, tool in enumerate(listed):
            if isinstance(tool, dict):
                yield tool, f"{prefix}tools_config.tools.{index}"


def tool_sites(hydrated: JsonDict) -> Iterator[ToolSite]:
    """Every tool config of a hydrated workflow, with where it sits."""
    workflow = hydrated.get("workflow_config")
    if isinstance(workflow, dict):
        for config, where in _tools_of(workflow, "workflow_config."):
            yield ToolSite(config, None, where)
    for node in hydrated.get("node_configs") or []:
        if not isinstance(node, dict):
            continue
        logical_id = node.get("logical_id")
        for config, where in _tools_of(node, ""):
            yield ToolSite(config, str(logical_id) if logical_id else None, where)


def reference_warnings(
    hydrated: JsonDict, known: Known | None = None
) -> list[JsonDict]:
    """The warnings of every registered check over the graph (never raises)."""
    known = known or Known()
    found: list[JsonDict] = []
    for site in tool_sites(hydrated):
        for check in TOOL_CHECKS:
            found.extend(check(site, known))
    return found
