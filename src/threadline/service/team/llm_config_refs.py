"""Run time: resolving saved-config references in a hydrated snapshot.

``resolve_llm_refs`` replaces every ``attachable_llm_config_id`` /
``named_llm_config_id`` (or ``named_llm_config_name``) reference in a hydrated
snapshot by the saved config, and a ``global_default_llm`` config that would
actually be used (node, then workflow) by the team's default saved config.
"""

from typing import Any

from threadline.errors import BadRequest, NotFound
from threadline.service.team.llm_configs import COLLECTION, default_doc, get_doc
from threadline.store import Document, Query, Transaction

JsonDict = dict[str, Any]

DEFAULT_LLM_TYPE = "global_default_llm"


def _reference(doc: Document) -> JsonDict:
    """The saved config as it goes into a snapshot, stamped with where it came from."""
    return {
        **doc.body["config"],
        "named_llm_config_id": doc.id,
        "named_llm_config_name": doc.body.get("name"),
    }


class _Resolver:
    """Reads each saved config once per snapshot."""

    def __init__(self, tx: Transaction, team_id: str) -> None:
        self.tx = tx
        self.team_id = team_id
        self._by_id: dict[str, Document | None] = {}
        self._default: Document | None = None
        self._default_read = False

    async def by_id(self, config_id: str, owner: str, via: str) -> JsonDict:
        if config_id not in self._by_id:
            self._by_id[config_id] = await get_doc(self.tx, self.team_id, config_id)
        doc = self._by_id[config_id]
        if doc is None:
            raise NotFound(
                f"{owner} references LLM config {config_id!r} ({via}), which does "
                "not exist in this team"
            )
        return _reference(doc)

    async def by_name(self, name: str, owner: str, via: str) -> JsonDict:
        docs, _ = await self.tx.documents(COLLECTION).find(
            self.team_id, Query(equals={"name": name})
        )
        if not docs:
            raise NotFound(
                f"{owner} references LLM config named {name!r} ({via}), which does "
                "not exist in this team"
            )
        if len(docs) > 1:
            raise BadRequest(
                f"{owner} references LLM config named {name!r} ({via}), but "
                f"{len(docs)} configs have that name; use named_llm_config_id"
            )
        return _reference(docs[0])

    async def default(self) -> JsonDict | None:
        if not self._default_read:
            self._default = await default_doc(self.tx, self.team_id)
            self._default_read = True
        return _reference(self._default) if self._default is not None else None

    async def config(self, value: Any, owner: str, field: str) -> Any:
        """``value`` with its named reference (and its group members') resolved."""
        if not isinstance(value, dict):
            return value
        ref_id = value.get("named_llm_config_id")
        if isinstance(ref_id, str) and ref_id:
            return await self.by_id(ref_id, owner, f"{field}.named_llm_config_id")
        ref_name = value.get("named_llm_config_name")
        if isinstance(ref_name, str) and ref_name:
            return await self.by_name(ref_name, owner, f"{field}.named_llm_config_name")
        kind = value.get("type")
        if kind == "llm_group" and isinstance(value.get("llms"), list):
            llms = [
                await self.config(m, owner, f"{field}.llms.{i}")
                for i, m in enumerate(value["llms"])
            ]
            return {**value, "llms": llms}
        if kind == "llm_group_with_backchannel":
            out = dict(value)
            for key in ("main_llm_config", "backchannel_llm_config"):
                out[key] = await self.config(value.get(key), owner, f"{field}.{key}")
            return out
        return value

    async def owner(self, part: JsonDict, owner: str) -> JsonDict:
        """A node or the workflow config with every LLM reference resolved."""
        out = dict(part)
        attached = part.get("attachable_llm_config_id")
        for key, value in part.items():
            if key.endswith("llms_config"):
                out[key] = await self.config(value, owner, key)
        if isinstance(attached, str) and attached:
            out["llms_config"] = await self.by_id(
                attached, owner, "attachable_llm_config_id"
            )
        return out


def _is_default_llm(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == DEFAULT_LLM_TYPE


async def resolve_llm_refs(
    tx: Transaction, team_id: str, hydrated: JsonDict
) -> JsonDict:
    """The snapshot with saved-config references and the team default resolved.

    - ``attachable_llm_config_id`` on a node or the workflow config: its
      ``llms_config`` becomes that saved config (it overrides the inline one);
    - ``named_llm_config_id`` (else ``named_llm_config_name``) inside any
      ``*llms_config`` (group members included): that config becomes the saved one;
    - a ``global_default_llm`` config that would be used (the workflow's, or a
      node's when the workflow has none to fall back to) becomes the team's
      default saved config, when the team has one.

    Unknown references raise ``NotFound`` naming the node and the id. Resolved
    configs carry ``named_llm_config_id``/``named_llm_config_name``. The input is
    never changed.
    """
    resolver = _Resolver(tx, team_id)
    workflow = hydrated.get("workflow_config")
    if isinstance(workflow, dict):
        workflow = await resolver.owner(workflow, "the workflow config")
        if _is_default_llm(workflow.get("llms_config")):
            team_default = await resolver.default()
            if team_default is not None:
                workflow["llms_config"] = team_default
    fallback = workflow.get("llms_config") if isinstance(workflow, dict) else None
    nodes = []
    for index, node in enumerate(hydrated.get("node_configs") or []):
        if not isinstance(node, dict):
            nodes.append(node)
            continue
        name = node.get("logical_id") or f"#{index}"
        node = await resolver.owner(node, f"node {name!r}")
        if _is_default_llm(node.get("llms_config")) and not fallback:
            team_default = await resolver.default()
            if team_default is not None:
                node["llms_config"] = team_default
        nodes.append(node)
    out = dict(hydrated)
    if isinstance(workflow, dict):
        out["workflow_config"] = workflow
    if "node_configs" in hydrated:
        out["node_configs"] = nodes
    return out
