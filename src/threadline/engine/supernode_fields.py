"""Super-node input fields: checking ``field_values`` and injecting them.

The interface is the super node's own ``super_node_interface`` (copied in when the
super node was embedded). Every problem is collected, none short-circuits:

- a ``field_values`` key the interface does not declare;
- a required field with no value (a non-required field falls back to its
  ``default_value``; a field left without any value is not injected at all);
- a value of the wrong ``value_type`` (``bool`` is never an integer or number),
  outside ``min_value``/``max_value`` (integer, number), outside
  ``min_length``/``max_length`` (string, array) or not in ``enum_values`` (enum);
  ``json_schema`` is for editors only and is not enforced;
- a mapping that is incomplete, names an unknown child node or edge, or whose path
  cannot be set (through a non-object, a missing list index, or onto ``logical_id``,
  ``type`` or an edge's endpoints).

Where each mapping lands (paths are dotted; a digit segment indexes a list):

- ``node_config_field`` / ``edge_config_field``: that child node's / edge's config,
  addressed by its id *in the child* (before namespacing);
- ``workflow_config_field``: the child's ``workflow_config``. Inlining keeps only its
  ``miscellaneous.default_dynamic_variables`` (see ``supernode_splice``), so any
  other path only earns a report warning;
- ``dynamic_variable``: a default of the run (``{{name}}``) — written to the parent's
  ``miscellaneous.default_dynamic_variables``, so a run input value still wins;
- ``runtime_variable``: seeded into the thread's variables (``[[name]]``) each time
  the thread enters the child's start node.

A field value may be a *reference* to a variable of the calling workflow instead of
a literal: ``"dynamic_variable:<name>"`` (the run's ``{{name}}``) or
``"runtime_variable:<name>"`` (the thread's ``[[name]]``). A reference is not
type-checked (its value is only known at run time). Mapped to a
``dynamic_variable`` or ``runtime_variable`` it becomes an entry of ``refs``
(``{target, name, source, source_name, field}``), resolved by the engine each time
the thread enters the child's start node (see ``supernode.resolve_refs``); mapped
to a config field it is written as the placeholder ``{{name}}`` / ``[[name]]``,
which renders wherever that field is a template.
"""

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

__all__ = ["Injection", "inject", "reference", "set_path", "value_problems"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_NUMERIC = frozenset({"integer", "number"})
_SIZED = frozenset({"string", "array"})
_PROTECTED = {
    "node": frozenset({"logical_id", "type"}),
    "edge": frozenset(
        {"logical_id", "source_node_logical_id", "destination_node_logical_id"}
    ),
    "workflow": frozenset(),
}
_KEPT_WORKFLOW_PATH = "miscellaneous.default_dynamic_variables."
REFERENCE_KINDS = ("dynamic_variable", "runtime_variable")
_PLACEHOLDER = {"dynamic_variable": "{{{{{}}}}}", "runtime_variable": "[[{}]]"}


@dataclass(slots=True)
class Injection:
    """What the field values contribute outside the child's own configs."""

    dynamic: JsonDict = field(default_factory=dict)
    runtime: JsonDict = field(default_factory=dict)
    refs: list[JsonDict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def reference(value: Any) -> tuple[str, str] | None:
    """``(kind, name)`` when ``value`` is a ``dynamic_variable:``/``runtime_variable:``
    reference to a variable of the calling workflow, else None."""
    if not isinstance(value, str):
        return None
    kind, sep, name = value.partition(":")
    name = name.strip()
    if not sep or kind.strip() not in REFERENCE_KINDS or not name:
        return None
    return kind.strip(), name


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bounds(spec: JsonDict, kind: str, value: Any) -> list[str]:
    name = spec.get("name")
    out = []
    if kind in _NUMERIC:
        low, high = spec.get("min_value"), spec.get("max_value")
        if low is not None and value < low:
            out.append(f"field {name!r}: {value!r} is below min_value {low}")
        if high is not None and value > high:
            out.append(f"field {name!r}: {value!r} is above max_value {high}")
    if kind in _SIZED:
        low, high = spec.get("min_length"), spec.get("max_length")
        if low is not None and len(value) < low:
            out.append(f"field {name!r}: length {len(value)} is below min_length {low}")
        if high is not None and len(value) > high:
            out.append(
                f"field {name!r}: length {len(value)} is above max_length {high}"
            )
    return out


def value_problems(spec: JsonDict, value: Any) -> list[str]:
    """Why ``value`` does not fit the input field ``spec`` (empty when it fits)."""
    name = spec.get("name")
    kind = str(spec.get("value_type") or "any")
    if kind == "any":
        return []
    if kind == "enum":
        options = spec.get("enum_values") or []
        if not options:
            return [f"field {name!r}: value_type enum declares no enum_values"]
        if value in options:
            return []
        return [f"field {name!r}: {value!r} is not one of {options!r}"]
    types = _TYPES.get(kind)
    if types is None:
        return [f"field {name!r}: unknown value_type {kind!r}"]
    if not isinstance(value, types) or (isinstance(value, bool) and kind != "boolean"):
        return [f"field {name!r}: expected {kind}, got {_kind(value)}"]
    return _bounds(spec, kind, value)


def _step(container: Any, part: str, create: bool) -> tuple[Any, str | None]:
    if isinstance(container, list):
        if part.isdigit() and int(part) < len(container):
            return container[int(part)], None
        return None, f"no list index {part!r}"
    if isinstance(container, dict):
        if container.get(part) is None and create:
            container[part] = {}
        return container.get(part), None
    return None, f"{part!r} is inside a {_kind(container)}"


def set_path(root: JsonDict, path: str, value: Any) -> str | None:
    """Set a dotted path in ``root`` (creating objects); return why it failed."""
    parts = path.split(".")
    if not all(parts):
        return f"invalid path {path!r}"
    current: Any = root
    for part in parts[:-1]:
        current, error = _step(current, part, create=True)
        if error:
            return f"path {path!r}: {error}"
    last = parts[-1]
    if isinstance(current, list):
        if not (last.isdigit() and int(last) < len(current)):
            return f"path {path!r}: no list index {last!r}"
        current[int(last)] = deepcopy(value)
    elif isinstance(current, dict):
        current[last] = deepcopy(value)
    else:
        return f"path {path!r}: {last!r} is inside a {_kind(current)}"
    return None


def _values(super_node: JsonDict, specs: list[JsonDict], out: Injection) -> JsonDict:
    """The value of every field to inject, reporting unknown/missing/bad values."""
    given = dict(super_node.get("field_values") or {})
    declared = {str(s.get("name")) for s in specs}
    out.problems.extend(
        f"field_values names {k!r}, which the interface does not declare"
        for k in given
        if k not in declared
    )
    values: JsonDict = {}
    for spec in specs:
        name = str(spec.get("name"))
        if name in given:
            if reference(given[name]) is None:
                out.problems.extend(value_problems(spec, given[name]))
            values[name] = given[name]
        elif spec.get("required", True):
            out.problems.append(f"required field {name!r} has no value")
        elif spec.get("default_value") is not None:
            values[name] = spec["default_value"]
    return values


def _config_target(
    child: JsonDict, mapping: JsonDict, kind: str
) -> tuple[JsonDict | None, str]:
    if kind == "workflow":
        config = child.get("workflow_config")
        if not isinstance(config, dict):
            config = child["workflow_config"] = {}
        return config, "the child workflow config"
    target_id = mapping.get("target_node_or_edge_logical_id")
    key = "node_configs" if kind == "node" else "edge_configs"
    for item in child.get(key) or []:
        if item.get("logical_id") == target_id:
            return item, f"child {kind} {target_id!r}"
    return None, f"child {kind} {target_id!r}"


def _apply(
    child: JsonDict, name: str, value: Any, mapping: JsonDict, out: Injection
) -> None:
    target = str(mapping.get("target_type"))
    where = f"field {name!r} ({target})"
    if target in ("dynamic_variable", "runtime_variable"):
        variable = mapping.get("target_variable_name")
        if not variable:
            out.problems.append(f"{where}: mapping has no target_variable_name")
            return
        ref = reference(value)
        if ref is not None:
            out.refs.append(
                {
                    "target": target,
                    "name": str(variable),
                    "source": ref[0],
                    "source_name": ref[1],
                    "field": name,
                }
            )
            return
        bucket = out.dynamic if target == "dynamic_variable" else out.runtime
        bucket[str(variable)] = deepcopy(value)
        return
    if (ref := reference(value)) is not None:
        value = _PLACEHOLDER[ref[0]].format(ref[1])
    kind = target.removesuffix("_config_field")
    if kind not in _PROTECTED:
        out.problems.append(f"{where}: unknown mapping target_type")
        return
    path = str(mapping.get("target_field_path") or "")
    config, label = _config_target(child, mapping, kind)
    if config is None:
        out.problems.append(f"{where}: {label} does not exist")
    elif not path or path.split(".")[0] in _PROTECTED[kind]:
        out.problems.append(f"{where}: cannot set path {path!r} of {label}")
    elif (error := set_path(config, path, value)) is not None:
        out.problems.append(f"{where}: {label}: {error}")
    elif kind == "workflow" and not path.startswith(_KEPT_WORKFLOW_PATH):
        out.warnings.append(
            f"{where}: {path!r} is set on the child workflow config, which is "
            "dropped when inlining (only default_dynamic_variables are kept)"
        )


def inject(child: JsonDict, super_node: JsonDict) -> Injection:
    """Check the super node's field values and apply them to ``child`` in place."""
    out = Injection()
    interface = super_node.get("super_node_interface") or {}
    specs = [s for s in interface.get("input_fields") or [] if isinstance(s, dict)]
    values = _values(super_node, specs, out)
    for spec in specs:
        name = str(spec.get("name"))
        if name not in values:
            continue
        for mapping in spec.get("mappings") or []:
            _apply(child, name, values[name], mapping, out)
    return out
