"""The stored ``managed_prompts`` documents: finding, inserting, replacing,
locking and rendering one.

One document per name, body ``{name, description, text, version, versions:
[{version, text, created_at, created_by}]}`` (the newest
``PromptLimits.versions_kept`` versions).
"""

from typing import Any

from threadline.ids import new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.store import Document, Query, Transaction

JsonDict = dict[str, Any]
KIND = "managed_prompts"


def render(doc: Document) -> JsonDict:
    """A stored prompt as the API shows it."""
    body = doc.body
    return {
        "_id": doc.id,
        "name": body["name"],
        "description": body.get("description"),
        "text": body["text"],
        "version": body["version"],
        "built_in": False,
        "team_id": doc.team_id,
        "created_by": doc.created_by,
        "updated_by": doc.updated_by,
        "created_at": doc.created_at.isoformat(),
        "updated_at": doc.updated_at.isoformat(),
    }


async def find_stored(tx: Transaction, team_id: str, name: str) -> Document | None:
    """The team's stored prompt of that name, if any."""
    docs, _ = await tx.documents(KIND).find(team_id, Query(equals={"name": name}))
    return docs[0] if docs else None


def version_entry(text: str, version: int, caller: Caller, at: str) -> JsonDict:
    """One entry of a prompt's ``versions``."""
    return {
        "version": version,
        "text": text,
        "created_at": at,
        "created_by": caller.user_id,
    }


async def insert(
    tx: Transaction,
    caller: Caller,
    name: str,
    text: str,
    description: str | None,
    version: int,
) -> Document:
    """Store a new prompt document whose only kept version is ``version``."""
    at = wf.now()
    body = {
        "name": name,
        "description": description,
        "text": text,
        "version": version,
        "versions": [version_entry(text, version, caller, at.isoformat())],
    }
    doc = Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        name=name,
        status="team",
        search_text=_search_text(name, description),
    )
    await tx.documents(KIND).insert(doc)
    return doc


async def replace_body(
    tx: Transaction, caller: Caller, doc: Document, body: JsonDict
) -> Document:
    """Store ``body`` as the prompt's new body, updated now by ``caller``."""
    name = doc.body["name"]
    new = Document(
        id=doc.id,
        team_id=doc.team_id,
        body=body,
        created_at=doc.created_at,
        updated_at=wf.now(),
        created_by=doc.created_by,
        updated_by=caller.user_id,
        name=name,
        status="team",
        search_text=_search_text(name, body.get("description")),
    )
    await tx.documents(KIND).replace(new)
    return new


def _search_text(name: str, description: str | None) -> str:
    return f"{name} {description or ''}".lower()


async def lock(tx: Transaction, caller: Caller, name: str) -> None:
    """Serialise the writes to one name of the caller's team."""
    await tx.lock(f"{KIND}:{caller.team_id}:{name}")
