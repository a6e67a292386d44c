"""Super-node operations behind the ``/super-nodes`` routes (a thin re-export).

Publishing and unpublishing, and the stored publication, live in
:mod:`threadline.service.reuse.super_node_publishing`; the read side (list, detail,
input schema, dependents, expand preview, snapshot status) in
:mod:`threadline.service.reuse.super_node_queries`.
"""

from threadline.service.reuse.super_node_publishing import publish, unpublish
from threadline.service.reuse.super_node_queries import (
    dependents,
    expand_preview,
    get,
    input_schema,
    list_,
    snapshot_status,
)

__all__ = [
    "dependents",
    "expand_preview",
    "get",
    "input_schema",
    "list_",
    "publish",
    "snapshot_status",
    "unpublish",
]
