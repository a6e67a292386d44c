"""Deterministic data nodes: ``field_extractor``, ``deduplicate`` and ``no_op``.

Inputs are runtime variables (``task.scope.runtime``, thread over workflow scope). A
string input is parsed as JSON. field_extractor and deduplicate write
``<output_runtime_variable_name>``, ``<name>_success`` and ``<name>_error``; a
failure (input unset or of the wrong shape, no keys) writes ``<name>=None``,
``_success=False`` and the reason, fills the run output's ``error_message`` and
lets the run continue.

field_extractor: ``keys_to_retain`` (or the list in the runtime variable named by
``keys_to_retain_runtime_variable_name``, which wins; a JSON or comma-separated string
is accepted) are paths: ``a.b`` nested keys, ``orders[].id`` every element,
``orders[1].id`` one element (kept as a one-element list). A key step applied to a
list maps over its elements. The projections of all paths are merged (dicts by key,
equal-length lists element by element). An element that has none of the keys becomes
``{}`` so positions stay aligned; paths absent from the input are skipped.

deduplicate: the input must be a list. The key path (``dedup_key`` or the runtime
variable named by ``dedup_key_runtime_variable_name``, which wins) uses the same
syntax; the first item with a key value is kept; items without the key are always
kept; with no key at all whole items are compared. Values compare as canonical JSON.

no_op: waits ``delay_seconds`` (capped at 300), writes ``<name>=None`` and
``<name>_success`` (False with ``simulate_failure``, which never aborts the run).
"""

import asyncio
import json
import re
from typing import Any

from threadline.engine.steps import NodeResult, NodeTask
from threadline.nodes.base import Ports

__all__ = [
    "execute_deduplicate",
    "execute_field_extractor",
    "execute_no_op",
    "extract_fields",
    "parse_path",
]

JsonDict = dict[str, Any]
Segment = str | int | None
"""A key, an index, or None for ``[]`` (every element)."""
_MISSING: Any = object()
_SEGMENT_RE = re.compile(r"\[\s*(-?\d*)\s*\]|([^.\[\]]+)")


class DataError(ValueError):
    """The node's input or configuration cannot be used."""


def parse_path(path: str) -> list[Segment]:
    """``orders[].items[0].id`` -> ``["orders", None, "items", 0, "id"]``."""
    segments: list[Segment] = []
    for index, key in _SEGMENT_RE.findall(path):
        if key:
            segments.append(key.strip())
        else:
            segments.append(int(index) if index else None)
    return [s for s in segments if s != ""]


def _project(value: Any, path: list[Segment]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head is None or (isinstance(head, str) and isinstance(value, list)):
        if not isinstance(value, list):
            return _MISSING
        steps = rest if head is None else path
        picked = [_project(item, steps) for item in value]
        return [{} if p is _MISSING else p for p in picked]
    if isinstance(head, int):
        if isinstance(value, list) and -len(value) <= head < len(value):
            sub = _project(value[head], rest)
            return _MISSING if sub is _MISSING else [sub]
        return _MISSING
    if isinstance(value, dict) and head in value:
        sub = _project(value[head], rest)
        return _MISSING if sub is _MISSING else {head: sub}
    return _MISSING


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for key, value in b.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
        return merged
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [_merge(x, y) for x, y in zip(a, b, strict=True)]
    return b


def extract_fields(data: Any, paths: list[str]) -> Any:
    """``data`` projected onto ``paths`` (see the module docstring)."""
    acc: Any = _MISSING
    for path in paths:
        projected = _project(data, parse_path(path))
        if projected is not _MISSING:
            acc = projected if acc is _MISSING else _merge(acc, projected)
    if acc is _MISSING:
        return [] if isinstance(data, list) else {}
    return acc


def _lookup(value: Any, path: list[Segment]) -> Any:
    for step in path:
        if isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(step, int) and isinstance(value, list):
            if not -len(value) <= step < len(value):
                return _MISSING
            value = value[step]
        else:
            return _MISSING
    return value


def _input(task: NodeTask, name: str | None) -> Any:
    if not name:
        raise DataError(f"{task.node.get('type')} has no input_runtime_variable_name")
    if name not in task.scope.runtime or task.scope.runtime[name] is None:
        raise DataError(f"the input runtime variable {name!r} is not set")
    value = task.scope.runtime[name]
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise DataError(f"the input runtime variable {name!r} is not JSON") from exc
    return value


def _keys(task: NodeTask) -> list[str]:
    node = task.node
    source = node.get("keys_to_retain_runtime_variable_name")
    keys: Any = node.get("keys_to_retain") or []
    if source:
        keys = task.scope.runtime.get(source)
        if isinstance(keys, str):
            try:
                keys = json.loads(keys)
            except ValueError:
                keys = [k.strip() for k in keys.split(",")]
        if not isinstance(keys, list):
            raise DataError(f"the runtime variable {source!r} holds no list of keys")
    paths = [str(k) for k in keys if isinstance(k, str) and k.strip()]
    if not paths:
        raise DataError("field_extractor has no keys_to_retain")
    return paths


def _writes(name: str, value: Any, error: str | None) -> JsonDict:
    return {name: value, f"{name}_success": error is None, f"{name}_error": error}


async def execute_field_extractor(task: NodeTask, ports: Ports) -> NodeResult:
    """Project a JSON runtime variable onto the retained key paths."""
    name = str(
        task.node.get("output_runtime_variable_name") or "field_extractor_result"
    )
    try:
        data = _input(task, task.node.get("input_runtime_variable_name"))
        extracted, error = extract_fields(data, _keys(task)), None
    except DataError as exc:
        extracted, error = None, str(exc)
    return NodeResult(
        variables=_writes(name, extracted, error),
        output={
            "success": error is None,
            "extracted_result": extracted,
            "error_message": error,
        },
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def deduplicate(items: list[Any], key: str | None) -> list[Any]:
    """The first item per key value, plus every item without the key."""
    path = parse_path(key) if key else []
    seen: set[str] = set()
    kept: list[Any] = []
    for item in items:
        value = _lookup(item, path)
        if value is _MISSING:
            kept.append(item)
            continue
        marker = _canonical(value)
        if marker not in seen:
            seen.add(marker)
            kept.append(item)
    return kept


async def execute_deduplicate(task: NodeTask, ports: Ports) -> NodeResult:
    """Remove duplicates from a list runtime variable."""
    node = task.node
    name = str(node.get("output_runtime_variable_name") or "deduplicate_result")
    kept: list[Any] | None = None
    removed = 0
    try:
        items = _input(task, node.get("input_runtime_variable_name"))
        if not isinstance(items, list):
            raise DataError("deduplicate needs a list in its input runtime variable")
        key = node.get("dedup_key")
        if source := node.get("dedup_key_runtime_variable_name"):
            key = task.scope.runtime.get(source)
            if not isinstance(key, str) or not key.strip():
                raise DataError(f"the runtime variable {source!r} holds no key path")
        kept = deduplicate(items, key)
        removed, error = len(items) - len(kept), None
    except DataError as exc:
        error = str(exc)
    output = {
        "success": error is None,
        "deduplicated_list": kept,
        "removed_count": removed,
        "error_message": error,
    }
    return NodeResult(variables=_writes(name, kept, error), output=output)


async def execute_no_op(task: NodeTask, ports: Ports) -> NodeResult:
    """Do nothing, successfully (unless ``simulate_failure``)."""
    node = task.node
    name = str(node.get("output_runtime_variable_name") or "no_op_result")
    delay = float(node.get("delay_seconds") or 0)
    if delay > 0:
        await asyncio.sleep(min(delay, 300.0))
    error = (
        "simulated failure (simulate_failure is set)"
        if node.get("simulate_failure")
        else None
    )
    return NodeResult(
        variables={name: None, f"{name}_success": error is None},
        output={"success": error is None, "error_message": error},
    )
