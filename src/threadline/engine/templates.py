"""Placeholder scanning and rendering for ``{{dynamic}}`` and ``[[runtime]]`` variables.

Syntax (Liquid-style bodies; see ``docs/expressions.md``)::

    {{ name }}  {{ a.b[0].c }}  {{ global.name }}  {{ name | default: 'x' | upcase }}
    [[ name ]]  [[ Node Name.field ]]  [[ thread_<id>.name ]]  [[ x | join: ', ' ]]

A dotted path is resolved by trying the longest dotted prefix that is a key first,
so node-qualified keys such as ``"Node Name.field"`` win over traversal into
``"Node Name"``.
Text that looks like a placeholder but has a malformed body is left untouched.
Everything here is pure: built-ins such as ``now`` are supplied by the caller.

Each render, and each resolver, has a budget from the caller's ``RenderLimits``
(``engine.render_limits``): past a ceiling it raises ``RenderLimitExceeded``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from threadline.engine import filters as _filters
from threadline.engine.filters import MISSING, Missing, to_text
from threadline.engine.placeholders import (
    PLACEHOLDER_RE,
    Filter,
    Kind,
    PathItem,
    Placeholder,
    build_placeholder,
    find_placeholders,
    placeholder_at,
)
from threadline.engine.render_limits import Budget, RenderLimitExceeded, RenderLimits

__all__ = [
    "MISSING",
    "Filter",
    "Kind",
    "Missing",
    "MissingPolicy",
    "PathItem",
    "Placeholder",
    "RenderLimitExceeded",
    "RenderLimits",
    "UnresolvedPlaceholder",
    "Vars",
    "find_placeholders",
    "make_resolver",
    "placeholder_at",
    "render",
    "render_value",
    "resolve_placeholder",
]

Vars = Mapping[str, Any]
MissingPolicy = Literal["keep", "empty", "error"]
_VIRTUAL = ("size", "first", "last")


class UnresolvedPlaceholder(KeyError):
    """Raised by ``render(..., missing="error")`` for a placeholder with no value."""


def _traverse(value: Any, path: tuple[PathItem, ...]) -> Any:
    for item in path:
        if isinstance(value, Mapping) and not isinstance(item, int) and item in value:
            value = value[item]
        elif isinstance(value, list | tuple) and isinstance(item, int):
            if not -len(value) <= item < len(value):
                return MISSING
            value = value[item]
        elif isinstance(value, list | tuple | str) and item in _VIRTUAL:
            value = _filters.apply(item, value, ())
        else:
            return MISSING
    return value


def _lookup(variables: Vars, path: tuple[PathItem, ...]) -> Any:
    for cut in range(len(path), 0, -1):
        head = path[:cut]
        if not all(isinstance(item, str) for item in head):
            continue
        key = ".".join(str(item) for item in head)
        if key in variables:
            value = _traverse(variables[key], path[cut:])
            if value is not MISSING:
                return value
    return MISSING


def resolve_placeholder(
    placeholder: Placeholder,
    *,
    dynamic: Vars | None = None,
    runtime: Vars | None = None,
    globals_: Vars | None = None,
    threads: Mapping[str, Vars] | None = None,
    limits: RenderLimits | None = None,
    budget: Budget | None = None,
) -> Any:
    """Return the native value of ``placeholder`` with its filters applied, or MISSING.

    ``threads`` maps a thread reference id (``"0"`` is the main thread) to its
    runtime variables; it is read by ``[[thread_<id>.name]]``. The filters run
    within ``budget`` (a fresh one of ``limits`` when not given).
    """
    if budget is None:
        budget = Budget(limits)
    budget.step()
    source: Vars | None = {
        Kind.DYNAMIC: dynamic,
        Kind.RUNTIME: runtime,
        Kind.GLOBAL: globals_,
        Kind.THREAD: (threads or {}).get(placeholder.thread_id or ""),
    }[placeholder.kind]
    value = _lookup(source or {}, placeholder.path)
    for f in placeholder.filters:
        value = _filters.apply(f.name, value, f.args, budget)
    return value


def make_resolver(
    *,
    dynamic: Vars | None = None,
    runtime: Vars | None = None,
    globals_: Vars | None = None,
    threads: Mapping[str, Vars] | None = None,
    limits: RenderLimits | None = None,
) -> Callable[[Placeholder], Any]:
    """Bind variable scopes into a ``resolve(placeholder)`` callable for expressions;
    all its calls share one budget of ``limits``."""
    return _resolver(dynamic, runtime, globals_, threads, Budget(limits))


def _resolver(
    dynamic: Vars | None,
    runtime: Vars | None,
    globals_: Vars | None,
    threads: Mapping[str, Vars] | None,
    budget: Budget,
) -> Callable[[Placeholder], Any]:
    def resolve(placeholder: Placeholder) -> Any:
        return resolve_placeholder(
            placeholder,
            dynamic=dynamic,
            runtime=runtime,
            globals_=globals_,
            threads=threads,
            budget=budget,
        )

    return resolve


def _substitute(
    text: str,
    resolve: Callable[[Placeholder], Any],
    missing: MissingPolicy,
    budget: Budget,
) -> str:
    def replace(m: re.Match[str]) -> str:
        placeholder = build_placeholder(m)
        if placeholder is None:
            return m.group(0)
        value = resolve(placeholder)
        if value is not MISSING:
            rendered = to_text(value)
            if rendered is not value:  # built here (JSON, numbers), not a variable
                budget.produced(len(rendered), "a rendered placeholder")
            budget.substitute(len(rendered))
            return rendered
        if missing == "error":
            raise UnresolvedPlaceholder(placeholder.raw)
        return "" if missing == "empty" else placeholder.raw

    return PLACEHOLDER_RE.sub(replace, text)


def render(
    text: str,
    *,
    dynamic: Vars | None = None,
    runtime: Vars | None = None,
    globals_: Vars | None = None,
    threads: Mapping[str, Vars] | None = None,
    missing: MissingPolicy = "keep",
    limits: RenderLimits | None = None,
) -> str:
    """Substitute every placeholder in ``text``, within ``limits``.

    Scalars render as text (``true``/``false`` for booleans, empty for None), dicts
    and lists as JSON. An unresolved placeholder is kept verbatim (``missing="keep"``),
    replaced by ``""`` (``"empty"``) or raises ``UnresolvedPlaceholder`` (``"error"``).
    Past a limit it raises ``RenderLimitExceeded``.
    """
    budget = Budget(limits)
    resolve = _resolver(dynamic, runtime, globals_, threads, budget)
    return _substitute(text, resolve, missing, budget)


def render_value(
    obj: Any,
    *,
    dynamic: Vars | None = None,
    runtime: Vars | None = None,
    globals_: Vars | None = None,
    threads: Mapping[str, Vars] | None = None,
    missing: MissingPolicy = "keep",
    preserve_types: bool = False,
    limits: RenderLimits | None = None,
) -> Any:
    """Render every string inside ``obj`` (dict values and list items, recursively).

    With ``preserve_types`` a string that is exactly one placeholder becomes the
    placeholder's native value, and None when it is unresolved (``tool_node``'s
    ``preserve_argument_types``). Dict keys and non-string scalars are unchanged.
    One budget of ``limits`` covers the whole of ``obj``.
    """
    budget = Budget(limits)
    resolve = _resolver(dynamic, runtime, globals_, threads, budget)
    return _render_any(obj, resolve, missing, preserve_types, budget)


def _render_any(
    obj: Any,
    resolve: Callable[[Placeholder], Any],
    missing: MissingPolicy,
    preserve: bool,
    budget: Budget,
) -> Any:
    if isinstance(obj, str):
        if preserve:
            whole = PLACEHOLDER_RE.fullmatch(obj.strip())
            placeholder = build_placeholder(whole) if whole else None
            if placeholder is not None:
                value = resolve(placeholder)
                return None if value is MISSING else value
        return _substitute(obj, resolve, missing, budget)
    if isinstance(obj, Mapping):
        return {
            k: _render_any(v, resolve, missing, preserve, budget)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_render_any(v, resolve, missing, preserve, budget) for v in obj]
    return obj
