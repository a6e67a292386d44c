"""Where a tool's arguments come from and where its result goes (§4.5).

**Bind** (:func:`bind_arguments`) ``variable_arguments``: ``literal`` ->
``literal_value``; ``runtime`` / ``dynamic`` read ``variable_path`` (dots, indexes,
node-qualified names, ``global.x``, ``thread_<id>.x``); ``auto`` tries runtime, then
dynamic. An absent or None value falls back to ``default``; ``required`` fails the
call naming the binding. Nothing resolved and no default: the argument is left out
(the function's own default applies). ``override_provided_value`` replaces a caller
value; otherwise the binding only fills an omitted (or None) argument.

**Map** (:func:`map_result`) a successful result:
``expand_result_into_runtime_variables`` writes each top-level key of a dict result
(not ``_``-prefixed) to thread scope, then ``result_variable_mappings`` write
``result_path`` (whole result when empty) to thread or workflow scope, winning on
collisions. A ``required`` mapping whose path is absent fails the call (the result
is kept).
"""

from collections.abc import Mapping
from typing import Any

from threadline.engine.steps import Scope
from threadline.engine.templates import MISSING, find_placeholders, resolve_placeholder
from threadline.tools.outcomes import JsonDict, ToolFailure

__all__ = ["bind_arguments", "lookup", "map_result", "scope_vars"]


def scope_vars(scope: Scope) -> JsonDict:
    """The scope as keyword arguments of ``render`` / ``render_value``."""
    return {
        "dynamic": scope.dynamic,
        "runtime": scope.runtime,
        "threads": scope.threads,
        "globals_": scope.globals_,
        "limits": scope.limits,
    }


def lookup(text: str, scope: Scope | None, runtime: JsonDict | None = None) -> Any:
    """The value of ``text`` when it is one whole placeholder, else ``MISSING``.

    Resolved against ``scope``, or against ``runtime`` alone when ``scope`` is None.
    """
    found = find_placeholders(text)
    if len(found) != 1 or found[0].raw != text:
        return MISSING
    if scope is None:
        return resolve_placeholder(found[0], runtime=runtime)
    return resolve_placeholder(found[0], **scope_vars(scope))


def _bound_value(spec: Mapping[str, Any], scope: Scope) -> Any:
    source = str(spec.get("source") or "auto")
    if source == "literal":
        return spec.get("literal_value")
    path = str(spec.get("variable_path") or "")
    order = ("runtime", "dynamic") if source == "auto" else (source,)
    for kind in order:
        text = f"[[{path}]]" if kind == "runtime" else f"{{{{{path}}}}}"
        value = lookup(text, scope)
        if value is not MISSING and value is not None:
            return value
    return MISSING


def bind_arguments(config: Mapping[str, Any], args: JsonDict, scope: Scope) -> JsonDict:
    """``args`` with the tool's ``variable_arguments`` applied (see above)."""
    bound = dict(args)
    for spec in config.get("variable_arguments") or []:
        name = spec["argument_name"]
        value = _bound_value(spec, scope)
        if value is MISSING or value is None:
            if spec.get("required"):
                where = spec.get("variable_path") or "literal_value"
                raise ToolFailure(
                    f"variable_arguments[{name!r}]: required variable {where!r} "
                    f"({spec.get('source') or 'auto'}) has no value",
                    "missing_variable",
                )
            value = spec.get("default")
            if value is None:
                continue
        if spec.get("override_provided_value", True) or bound.get(name) is None:
            bound[name] = value
    return bound


def map_result(
    config: Mapping[str, Any], result: Any
) -> tuple[JsonDict, JsonDict, str | None]:
    """Thread writes, workflow writes and the error of a missing required path."""
    thread: JsonDict = {}
    workflow: JsonDict = {}
    errors: list[str] = []
    if config.get("expand_result_into_runtime_variables") and isinstance(result, dict):
        thread.update(
            {k: v for k, v in result.items() if isinstance(k, str) and k[:1] not in "_"}
        )
    for mapping in config.get("result_variable_mappings") or []:
        target = mapping["target_variable_name"]
        path = str(mapping.get("result_path") or "")
        value = result
        if path:
            value = lookup(
                f"[[_r{'' if path.startswith('[') else '.'}{path}]]",
                None,
                {"_r": result},
            )
        if value is MISSING:
            if mapping.get("required"):
                errors.append(f"{path!r} is not in the result ({target!r} mapping)")
                continue
            value = mapping.get("default")
        if mapping.get("scope") == "workflow":
            workflow[target] = value
            thread.pop(target, None)
        else:
            thread[target] = value
    return thread, workflow, "; ".join(errors) or None
