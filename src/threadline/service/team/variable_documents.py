"""Global variables as stored documents: the body (a secret encrypted), the
document, the wire object, and the lookups every write shares."""

from datetime import datetime
from typing import Any

from threadline.errors import Conflict, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.team import secrets, team_cache
from threadline.service.team.variable_values import (
    ValueLimits,
    as_object,
    check_value,
    optional_flag,
    optional_text,
    secret_text,
    unreadable,
    valid_name,
)
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]

COLLECTION = "global_variables"
SECRET_STATUS = "secret"
MASK = "********"


def stored_body(
    name: str,
    value: Any,
    description: str | None,
    category: str | None,
    is_secret: bool,
    key: str | None,
) -> JsonDict:
    body: JsonDict = {
        "name": name,
        "value": None if is_secret else value,
        "description": description,
        "category": category,
        "is_secret": is_secret,
    }
    if is_secret:
        body["ciphertext"] = secrets.encrypt(value, key)
    return body


def document(
    caller: Caller, body: JsonDict, now: datetime, *, previous: Document | None = None
) -> Document:
    text = " ".join(str(body.get(k) or "") for k in ("name", "description", "category"))
    return Document(
        id=previous.id if previous else new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=previous.created_at if previous else now,
        updated_at=now,
        created_by=previous.created_by if previous else caller.user_id,
        updated_by=caller.user_id,
        type=body.get("category"),
        name=body["name"],
        status=SECRET_STATUS if body.get("is_secret") else None,
        search_text=text.lower(),
    )


def shown_value(body: JsonDict) -> Any:
    if body.get("is_secret"):
        return MASK
    value = body.get("value")
    return None if unreadable(value) else value


def render(doc: Document) -> JsonDict:
    """The SDK's ``GlobalVariable``; a secret's value is always the mask."""
    body = doc.body
    error = None if body.get("is_secret") else unreadable(body.get("value"))
    shown: JsonDict = {
        "id": doc.id,
        "_id": doc.id,
        "name": body.get("name"),
        "value": MASK
        if body.get("is_secret")
        else None
        if error
        else body.get("value"),
        "description": body.get("description"),
        "category": body.get("category"),
        "is_secret": bool(body.get("is_secret")),
        "is_system": False,
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }
    if error is not None:
        shown["value_error"] = error
    return shown


async def lock_names(tx: Transaction, team_id: str) -> None:
    """Serialise name checks of one team (unique names without a unique index)."""
    await tx.lock(f"{COLLECTION}:{team_id}")


async def name_taken(
    tx: Transaction, team_id: str, name: str, own_id: str | None = None
) -> bool:
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"name": name}, size=2)
    )
    return any(d.id != own_id for d in docs)


def duplicate(name: str) -> Conflict:
    return Conflict(f"the team already has a global variable named {name!r}")


async def must_get(tx: Transaction, caller: Caller, variable_id: str) -> Document:
    doc = None
    if is_object_id(variable_id):
        doc = await tx.documents(COLLECTION).get(caller.team_id, variable_id)
    if doc is None:
        raise NotFound(f"global variable {variable_id!r} not found")
    return doc


def changed(store: Store, team_id: str) -> None:
    """A write of ``team_id``'s variables committed: runs read them again."""
    team_cache.of(store).invalidate(team_cache.VARIABLES, team_id)


def new_body(
    raw: Any, key: str | None, limits: ValueLimits, prefix: str = ""
) -> JsonDict:
    item = as_object(raw, "global variable", prefix.rstrip(".") or "body")
    is_secret = bool(optional_flag(item, "is_secret", f"{prefix}is_secret"))
    value = item.get("value", "")
    if value is None:
        value = ""
    value = check_value(value, f"{prefix}value", limits)
    if is_secret:
        value = secret_text(value, f"{prefix}value")
    return stored_body(
        valid_name(item.get("name"), f"{prefix}name"),
        value,
        optional_text(item, "description", f"{prefix}description"),
        optional_text(item, "category", f"{prefix}category"),
        is_secret,
        key,
    )


async def all_of(tx: Transaction, team_id: str) -> list[Document]:
    docs, _ = await tx.documents(COLLECTION).find(team_id, Query(newest_first=False))
    return docs
