"""Vendor-backed nodes (``send_sms``, ``google_docs``, ``athena_*``) and their plumbing.

Every vendor call goes through ``ports.vendors[<vendor>].call(operation, payload)``:

* ``send_sms`` -> vendor ``sms``, operation ``send_sms`` (payload
  ``destination_phone_number``, ``message``); reply may carry ``status``.
* ``google_docs`` -> vendor ``google_docs``: ``create_document`` (reply
  ``document_id``, ``document_url``), ``get_document`` (``document_content``),
  ``update_document`` (``content``, ``insert_index`` in; ``document_id``,
  ``document_url`` out).
* ``athena_<op>`` -> vendor ``athena``, operation ``<op>`` (``patients_search``,
  ``patients_create``, ``patients_update``, ``appointments_create``); reply
  ``status_code`` and ``response``.

Payloads are the node's own fields, rendered (``{{ }}``/``[[ ]]``; an unresolved
placeholder becomes ``""`` so it is never sent verbatim), minus the generic node
fields; Google credentials travel as ``credentials``. A reply is a dict; it fails
when it says ``success: false`` or carries an ``error``; a raised exception fails too.

Errors never stop the run. Each node writes ``<type>_result`` (the reply, None on
failure), ``<type>_success`` and ``<type>_error`` (e.g. ``send_sms_success``), emits
its own event, and fills its run output with ``success=False``. A missing vendor or a
missing required field additionally emits a ``workflow_warning`` naming exactly what
is missing (e.g. "send_sms needs an SMS vendor: configure ...").
"""

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.steps import NodeResult, NodeTask
from threadline.engine.templates import render_value
from threadline.nodes.base import Ports
from threadline.tools.runner import redact, scope_vars

JsonDict = dict[str, Any]

GENERIC_NODE_FIELDS = frozenset(
    {
        "logical_id", "name", "description", "type", "workflow_id", "version_number",
        "disabled", "miscellaneous", "primary_category", "secondary_category",
        "is_start", "global_node_config", "is_guardrail_node", "self_loop_config",
    }
)  # fmt: skip
_LABELS = {
    "sms": "an SMS",
    "google_docs": "a Google Docs",
    "athena": "an athenahealth (EHR)",
    "conversations": "a conversations (calls)",
}


@dataclass
class VendorReply:
    """The outcome of one vendor call."""

    success: bool
    response: JsonDict = field(default_factory=dict)
    error: str | None = None
    configured: bool = True


def missing_vendor_message(node_type: str, vendor: str) -> str:
    """What to configure so ``node_type`` can run."""
    label = _LABELS.get(vendor, f"a {vendor!r}")
    return (
        f"{node_type} needs {label} vendor: configure one named {vendor!r} in the "
        "server's vendors (Runtime.vendors / Ports.vendors)"
    )


def redact_value(value: Any, secrets: Collection[str]) -> Any:
    """``value`` with secrets redacted in every string (dict keys kept)."""
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v, secrets) for v in value]
    return value


def rendered_fields(task: NodeTask, exclude: Collection[str] = ()) -> JsonDict:
    """The node's own fields, rendered; unresolved placeholders become ``""``."""
    own = {
        k: v
        for k, v in task.node.items()
        if k not in GENERIC_NODE_FIELDS and k not in exclude
    }
    rendered: JsonDict = render_value(own, **scope_vars(task.scope), missing="empty")
    return rendered


async def call_vendor(
    ports: Ports, vendor: str, operation: str, payload: JsonDict, node_type: str
) -> VendorReply:
    """Call ``ports.vendors[vendor]``; never raises."""
    target = ports.vendors.get(vendor)
    if target is None:
        return VendorReply(False, {}, missing_vendor_message(node_type, vendor), False)
    try:
        reply: Any = await target.call(operation, payload)
    except Exception as exc:
        message = f"{vendor} vendor {operation} failed: {type(exc).__name__}: {exc}"
        return VendorReply(False, {}, redact(message, ports.secret_values))
    response = reply if isinstance(reply, dict) else {"data": reply}
    if response.get("success", True) is not False and not response.get("error"):
        return VendorReply(True, response)
    error = str(response.get("error") or f"{vendor} vendor {operation} failed")
    return VendorReply(False, response, redact(error, ports.secret_values))


def record(result: NodeResult, prefix: str, reply: VendorReply) -> None:
    """Write ``<prefix>_result/_success/_error``; warn when unconfigured."""
    result.variables.update(
        {
            f"{prefix}_result": reply.response if reply.success else None,
            f"{prefix}_success": reply.success,
            f"{prefix}_error": reply.error,
        }
    )
    if not reply.configured:
        result.events.append(
            {"type": "workflow_warning", "warning_message": reply.error}
        )


def missing_field(node_type: str, *names: str) -> VendorReply:
    """A failed reply for a required field that is empty after rendering."""
    fields = " / ".join(names)
    return VendorReply(False, {}, f"{node_type} needs {fields}: it is empty", False)


async def execute_send_sms(task: NodeTask, ports: Ports) -> NodeResult:
    """Send an SMS through the ``sms`` vendor."""
    fields = rendered_fields(task)
    phone = str(fields.get("destination_phone_number") or "").strip()
    message = str(fields.get("message") or "")
    if not phone or not message:
        missing = [
            n
            for n, v in (("destination_phone_number", phone), ("message", message))
            if not v
        ]
        reply = missing_field("send_sms", *missing)
    else:
        payload = {"destination_phone_number": phone, "message": message}
        reply = await call_vendor(ports, "sms", "send_sms", payload, "send_sms")
    result = NodeResult()
    status = reply.response.get("status") or ("sent" if reply.success else "failed")
    result.events.append(
        {
            "type": "send_sms",
            "status": str(status),
            "sent_message": message if reply.success else None,
            "destination_phone_number": phone or None,
        }
    )
    record(result, "send_sms", reply)
    result.output = {
        "success": reply.success,
        "sent_sms_message": message if reply.success else None,
    }
    return result


_DOC_OPERATIONS = {
    "google_docs_create_document": "create_document",
    "google_docs_get_document": "get_document",
    "google_docs_update_document": "update_document",
}


def _doc_payload(operation: JsonDict) -> JsonDict:
    payload = {k: v for k, v in operation.items() if k not in ("type", "updates")}
    updates = operation.get("updates") or {}
    if operation.get("type") == "google_docs_update_document":
        payload["content"] = updates.get("content")
        payload["insert_index"] = updates.get("insert_index")
    return payload


def _doc_event(kind: str, operation: JsonDict, reply: VendorReply) -> JsonDict:
    response = reply.response
    event: JsonDict = {
        "type": kind,
        "status": "success" if reply.success else "failed",
        "document_id": response.get("document_id"),
    }
    if kind == "google_docs_create_document":
        event["document_url"] = response.get("document_url")
        event["document_title"] = operation.get("title")
    elif kind == "google_docs_get_document":
        content = response.get("document_content")
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False, default=str)
        event["document_content"] = content
        event["document_id"] = response.get("document_id") or operation.get(
            "document_id_or_url"
        )
    else:
        event["document_url"] = response.get("document_url")
        event["updated_content"] = (operation.get("updates") or {}).get("content")
    return event


async def execute_google_docs(task: NodeTask, ports: Ports) -> NodeResult:
    """Create, read or update a Google Docs document through ``google_docs``."""
    fields = rendered_fields(task)
    operation = fields.get("operate_document") or {}
    kind = str(operation.get("type") or "")
    result = NodeResult()
    if kind not in _DOC_OPERATIONS:
        reply = missing_field("google_docs", "operate_document (create, get or update)")
        record(result, "google_docs", reply)
        result.output = {"operate_document": None}
        return result
    payload = {"credentials": fields.get("credentials"), **_doc_payload(operation)}
    reply = await call_vendor(
        ports, "google_docs", _DOC_OPERATIONS[kind], payload, "google_docs"
    )
    result.events.append(_doc_event(kind, operation, reply))
    record(result, "google_docs", reply)
    keys = {
        "google_docs_get_document": ("document_content",),
    }.get(kind, ("document_id", "document_url"))
    out = {k: reply.response.get(k) for k in keys} if reply.success else {}
    result.output = {"operate_document": {"type": kind, **out}}
    return result


async def execute_athena(task: NodeTask, ports: Ports) -> NodeResult:
    """Any ``athena_*`` node: one call to the ``athena`` vendor."""
    node_type = str(task.node.get("type"))
    operation = node_type.removeprefix("athena_")
    reply = await call_vendor(
        ports, "athena", operation, rendered_fields(task), node_type
    )
    response = reply.response.get("response")
    if response is None and not reply.success and reply.error:
        response = {"error": reply.error}
    elif response is not None and not isinstance(response, dict):
        response = {"data": response}
    status_code = reply.response.get("status_code")
    result = NodeResult()
    result.events.append(
        {
            "type": "athena",
            "status_code": status_code,
            "response_body": redact_value(response, ports.secret_values),
        }
    )
    record(result, node_type, reply)
    result.output = {
        "success": reply.success,
        "status_code": status_code,
        "response": redact_value(response, ports.secret_values),
    }
    return result
