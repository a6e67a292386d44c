"""The pre-flight report of an upgrade: what moving a waiting run onto another
version of its workflow would do, and whether it is safe.

Each thread keeps its place by logical id, so every waiting node must exist in the
target; the target's ``{{dynamic}}`` and ``[[runtime]]`` reads the run lacks (and
the old version did not read) are reported as missing variables. See
docs/upgrades.md.
"""

from collections.abc import Iterator
from typing import Any

from threadline.engine.templates import find_placeholders
from threadline.store import Document

JsonDict = dict[str, Any]
UPGRADABLE = frozenset({"waiting_for_user_input", "paused"})
"""Runs between turns whose conversation can go on: the ones an upgrade may touch."""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _nodes(snapshot: JsonDict) -> dict[str, JsonDict]:
    return {
        str(n.get("logical_id")): n
        for n in snapshot.get("node_configs") or []
        if isinstance(n, dict)
    }


def _reads(snapshot: JsonDict) -> set[tuple[str, str]]:
    """``(kind, name)`` of every ``{{dynamic}}`` and ``[[runtime]]`` variable read."""
    names = {str(n.get("name")) for n in _nodes(snapshot).values() if n.get("name")}
    parts = [snapshot.get("workflow_config"), snapshot.get("node_configs")]
    parts.append(snapshot.get("edge_configs"))
    found: set[tuple[str, str]] = set()
    for text in _strings(parts):
        for ph in find_placeholders(text):
            if ph.kind in ("dynamic", "runtime") and ph.root not in names:
                found.add((str(ph.kind), ph.root))
    return found


def defaults(snapshot: JsonDict) -> JsonDict:
    misc = (snapshot.get("workflow_config") or {}).get("miscellaneous") or {}
    defaults = misc.get("default_dynamic_variables") or {}
    return dict(defaults) if isinstance(defaults, dict) else {}


def _missing(source: JsonDict, target: JsonDict, state: JsonDict) -> list[JsonDict]:
    """Variables the target reads, the run lacks and the old version never read
    (a variable the old version read too was already missing before)."""
    have_dynamic = set(state.get("dynamic") or {}) | set(defaults(target))
    have_runtime = set(state.get("workflow_variables") or {})
    for thread in (state.get("threads") or {}).values():
        have_runtime |= set(thread.get("variables") or {})
    missing = []
    for kind, name in sorted(_reads(target) - _reads(source)):
        have = have_dynamic if kind == "dynamic" else have_runtime
        if name not in have:
            missing.append({"name": name, "kind": kind})
    return missing


def _threads(source: JsonDict, target: JsonDict, state: JsonDict) -> list[JsonDict]:
    before, after = _nodes(source), _nodes(target)
    out = []
    for thread_id, thread in (state.get("threads") or {}).items():
        if thread.get("status") == "ended":
            continue
        node = thread.get("node")
        out.append(
            {
                "thread_id": thread_id,
                "status": thread.get("status"),
                "node_logical_id": node,
                "node_name": (before.get(str(node)) or {}).get("name"),
                "exists_in_target": node is None or str(node) in after,
            }
        )
    return out


def report(doc: Document, target_number: int, target: JsonDict) -> JsonDict:
    """What upgrading ``doc`` to ``target`` would do, and whether it is safe."""
    record: JsonDict = doc.body.get("workflow_run") or {}
    source = record.get("workflow_config_fully_hydrated")
    source = source if isinstance(source, dict) else {}
    state = doc.body.get("state") or {}
    current = int(record.get("version_number") or 0)
    threads = _threads(source, target, state)
    missing = _missing(source, target, state)
    problems: list[str] = []
    if not source:
        problems.append("the run has no config snapshot to upgrade")
    if doc.status not in UPGRADABLE and current != target_number:
        problems.append(f"the run is {doc.status}, not waiting between turns")
    for t in threads:
        if not t["exists_in_target"]:
            problems.append(
                f"thread {t['thread_id']} waits at node {t['node_logical_id']!r},"
                f" which version {target_number} does not have"
            )
    for v in missing:
        problems.append(
            f"version {target_number} reads the {v['kind']} variable"
            f" {v['name']!r}, which the run does not have"
        )
    blocking = [p for p in problems if " variable " not in p]
    return {
        "workflow_run_id": doc.id,
        "workflow_id": doc.workflow_id,
        "status": doc.status,
        "from_version_number": current,
        "target_version_number": target_number,
        "already_on_target": current == target_number,
        "threads": threads,
        "missing_variables": missing,
        "problems": problems,
        "safe": not problems,
        "forceable": not blocking,
    }
