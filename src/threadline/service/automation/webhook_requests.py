"""The request a webhook delivery sends: its body, its signatures and headers, and
the POST itself through the SSRF guard (``tools.http``).

Signature (what the Interactly SDK's ``interactly.webhooks.verify_signature``
checks): ``X-Interactly-Signature`` = hex HMAC-SHA256 of the raw body with the
subscription's signing secret, ``X-Interactly-Timestamp`` = Unix seconds. The body
repeats that timestamp (``timestamp``), so the signature covers it and receivers
can reject replays by comparing both and checking freshness. Receivers that prefer
the ``"<timestamp>.<body>"`` scheme read ``X-Interactly-Signature-256``:
``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``.
"""

import hashlib
import hmac
import json
import time

import httpx

from threadline import __version__
from threadline.service import webhooks as wh
from threadline.store import Document
from threadline.tools import http
from threadline.tools.http import BlockedAddress, HttpCall, HttpOutcome, HttpPolicy

SIGNATURE_HEADER = "X-Interactly-Signature"
TIMESTAMPED_SIGNATURE_HEADER = "X-Interactly-Signature-256"
TIMESTAMP_HEADER = "X-Interactly-Timestamp"
EVENT_ID_HEADER = "X-Interactly-Event-Id"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Interactly-Signature`` value: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_timestamped(secret: str, body: bytes, ts: int) -> str:
    """The ``X-Interactly-Signature-256`` value: ``sha256=`` and the hex HMAC-SHA256
    of ``"<timestamp>.<body>"``, so the timestamp is signed outside the body too."""
    message = str(ts).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


_EVENT_TYPES = {
    "workflow_created": "workflow.created",
    "workflow_updated": "workflow.updated",
    "workflow_deleted": "workflow.deleted",
    "workflow_run_started": "run.started",
}
_FAILED_RUNS = frozenset({"failed", "aborted_looping_risk"})


def event_type(action: str, run_status: str | None) -> str:
    """The body's ``type``: the event names the SDK's receiver example routes on
    (``run.completed``, ``run.failed``, ...); ``action`` keeps the enum value."""
    if action == "workflow_run_completed":
        return "run.failed" if run_status in _FAILED_RUNS else "run.completed"
    return _EVENT_TYPES.get(action, action)


def delivery_body(event: Document, attempt_number: int, timestamp: int) -> bytes:
    """The JSON POSTed to the receiver: the action, the workflow and the run."""
    b = event.body
    run_status = b.get("workflow_run_status")
    doc = {
        "event_id": b["event_id"],
        "action": b["action"],
        "type": event_type(b["action"], run_status),
        "timestamp": timestamp,
        "attempt_number": attempt_number,
        "team_id": event.team_id,
        "subscription_id": b["subscription_id"],
        "dedupe_key": b["dedupe_key"],
        "occurred_at": event.created_at.isoformat(),
        "workflow_id": b.get("workflow_id"),
        "workflow_name": b.get("workflow_name"),
        "workflow_run_id": b.get("workflow_run_id"),
        "run_id": b.get("workflow_run_id"),
        "workflow_run_status": b.get("workflow_run_status"),
        "payload": b.get("payload") or {},
    }
    if doc["type"] == "run.failed":
        doc["error"] = f"the run ended with status {run_status!r}"
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def headers(sub: Document, event: Document, body: bytes, ts: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Threadline-Webhooks/{__version__}",
        SIGNATURE_HEADER: sign(wh.signing_secret(sub), body),
        TIMESTAMPED_SIGNATURE_HEADER: sign_timestamped(
            wh.signing_secret(sub), body, ts
        ),
        TIMESTAMP_HEADER: str(ts),
        EVENT_ID_HEADER: str(event.body["event_id"]),
    }
    token = wh.bearer_token(sub)
    if token:
        if token[:7].lower() == "bearer ":  # the SDK guide's example sends it so
            token = token[7:].strip()
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def send(
    sub: Document,
    event: Document,
    attempt_number: int,
    hpolicy: HttpPolicy,
    transport: httpx.AsyncBaseTransport | None,
) -> tuple[HttpOutcome, bool]:
    """POST the event once; returns the outcome and whether it was refused (the
    SSRF guard refused the target)."""
    ts = int(time.time())
    body = delivery_body(event, attempt_number, ts)
    call = HttpCall(
        method="POST",
        url=sub.body["url"],
        headers=headers(sub, event, body, ts),
        body=body,
        timeout_s=float(sub.body["timeout_seconds"]),
        response_format="text",
    )
    secrets = [s for s in (wh.bearer_token(sub), wh.signing_secret(sub)) if s]
    try:
        await http.check_url(httpx.URL(call.url), hpolicy)
    except BlockedAddress as exc:
        refused = HttpOutcome(
            success=False,
            status_code=None,
            data=None,
            headers={},
            error=str(exc),
            latency_ms=0.0,
            curl_command="",
        )
        return refused, True
    except Exception:  # resolution problems: send() reports them
        pass
    return (
        await http.send(
            call, policy=hpolicy, secret_values=secrets, transport=transport
        ),
        False,
    )
