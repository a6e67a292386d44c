"""Super-node field references, resolved when a thread enters an inlined child.

A super node's ``field_values`` entry may name a variable of the calling workflow
(``"dynamic_variable:caller_name"``, ``"runtime_variable:x"``) instead of a value;
expansion (``supernode_fields``) leaves such entries on the child's start node
(``miscellaneous.super_node_variable_refs``). Each time a thread enters that node,
every reference is read as the placeholder ``{{name}}`` / ``[[name]]`` would be
(so ``global.x``, dotted paths and ``[[thread_<id>.x]]`` work too) and written to
the mapped child variable: a dynamic variable of the run, or a runtime variable of
the thread.

A reference with no value leaves the mapped variable unwritten (absent, or the
value it already had) and emits a ``workflow_warning`` naming the super node, the
field and the reference; the reference text itself is never passed on.
"""

from collections.abc import Mapping
from typing import Any

from threadline.engine.emit import Emitter
from threadline.engine.placeholders import find_placeholders
from threadline.engine.state import ThreadState
from threadline.engine.supernode_splice import REFS_KEY
from threadline.engine.templates import MISSING, resolve_placeholder

JsonDict = dict[str, Any]

__all__ = ["REFS_KEY", "node_refs", "resolve_refs"]

_WRAP = {"dynamic_variable": ("{{", "}}"), "runtime_variable": ("[[", "]]")}


def node_refs(node: JsonDict) -> list[JsonDict]:
    """The field references to resolve on entering ``node`` (an inlined start)."""
    refs = (node.get("miscellaneous") or {}).get(REFS_KEY)
    if not isinstance(refs, list):
        return []
    return [r for r in refs if isinstance(r, dict)]


def _value(ref: JsonDict, scope: Mapping[str, Any]) -> Any:
    opening, closing = _WRAP.get(str(ref.get("source")), ("", ""))
    if not opening:
        return MISSING
    found = find_placeholders(f"{opening}{ref.get('source_name')}{closing}")
    if len(found) != 1:
        return MISSING
    return resolve_placeholder(found[0], **scope)


def resolve_refs(
    node: JsonDict,
    dynamic: JsonDict,
    thread: ThreadState,
    scope: Mapping[str, Any],
    em: Emitter,
) -> None:
    """Write each reference's value into ``dynamic`` or ``thread.variables``.

    ``scope`` holds the keyword arguments of ``templates.resolve_placeholder``
    (the thread's scope, ``moves.scope_kwargs``)."""
    for ref in node_refs(node):
        value = _value(ref, scope)
        target, name = str(ref.get("target")), str(ref.get("name"))
        if value is MISSING:
            em.emit(
                "workflow_warning",
                thread.thread_id,
                warning_message=(
                    f"super node {ref.get('super_node')!r}: field "
                    f"{ref.get('field')!r} references "
                    f"{ref.get('source')}:{ref.get('source_name')}, which has no "
                    f"value; {target} {name!r} is not set from it"
                ),
            )
            continue
        bucket = dynamic if target == "dynamic_variable" else thread.variables
        bucket[name] = value
