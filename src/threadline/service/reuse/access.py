"""Access levels shared by workflow templates and node libraries.

Each item is a document of its kind (``workflow_templates`` / ``node_libraries``)
whose ``status`` column holds its access level and whose body is its config
(``access_level``, ``access_list`` included). Who may do what:

- ``personal`` (the default): read and write by its creator only; the user ids in
  ``access_list`` may also *read* it. ``access_list`` entries are 24-hex ids; they
  only ever grant access inside the item's own team (teams stay isolated, so an
  entry naming another team's user grants nothing).
- ``team``: read and write by every member of the creator's team.
- ``system``: read by everyone, written by nobody through the API. Normal API
  keys cannot create an item as ``system`` nor raise one to it (403). Operators
  seed system items with ``seed_system`` (stored under ``SYSTEM_TEAM_ID``).

An item the caller may not read answers 404 (as if absent); one it may read but
not write answers 403 to PATCH and DELETE. ``Shelf`` is the create, read, list,
update and delete every kind shares.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints

from threadline.errors import Forbidden, InvalidField, NotFound
from threadline.ids import OBJECT_ID_PATTERN, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.store import Document, Query, Store, Transaction

JsonDict = dict[str, Any]
HexId = Annotated[str, StringConstraints(pattern=OBJECT_ID_PATTERN)]

SYSTEM_TEAM_ID = "0" * 24
"""The owner team of ``system`` items (no API key is ever bound to it)."""


class AccessLevel(StrEnum):
    """Who may read an item (see the module docstring)."""

    PERSONAL = "personal"
    TEAM = "team"
    SYSTEM = "system"


class LevelFilter(StrEnum):
    """The ``access_level`` list filter: one level, or ``all`` visible items."""

    ALL = "all"
    PERSONAL = "personal"
    TEAM = "team"
    SYSTEM = "system"


LEVEL_ALIASES = {"public": "team", "private": "personal"}
"""Names the SDK's reusable-assets guide uses: ``public`` (visible team-wide) is
``team``, ``private`` (the owner only) is ``personal``. Stored and shown as the
canonical level."""


def canonical_level(value: Any) -> Any:
    """``public``/``private`` as ``team``/``personal``; anything else unchanged."""
    if isinstance(value, str):
        return LEVEL_ALIASES.get(value.strip().lower(), value)
    return value


LevelIn = Annotated[AccessLevel, BeforeValidator(canonical_level)]
"""An item's ``access_level`` in a request body (aliases accepted)."""
LevelQuery = Annotated[LevelFilter, BeforeValidator(canonical_level)]
"""The ``access_level`` list filter in a query (aliases accepted)."""


def level_of(doc: Document) -> str:
    return doc.status or AccessLevel.PERSONAL.value


def can_read(doc: Document, caller: Caller) -> bool:
    level = level_of(doc)
    if level == AccessLevel.SYSTEM:
        return doc.team_id in (caller.team_id, SYSTEM_TEAM_ID)
    if doc.team_id != caller.team_id:
        return False
    if level == AccessLevel.TEAM:
        return True
    return doc.created_by == caller.user_id or caller.user_id in (
        doc.body.get("access_list") or []
    )


def can_write(doc: Document, caller: Caller) -> bool:
    level = level_of(doc)
    if doc.team_id != caller.team_id or level == AccessLevel.SYSTEM:
        return False
    return level == AccessLevel.TEAM or doc.created_by == caller.user_id


def refuse_system(level: Any) -> None:
    """403 for an attempt to make an item ``system`` with a normal API key."""
    if level == AccessLevel.SYSTEM:
        raise Forbidden(
            "access_level 'system' items are provided by the operator and cannot "
            "be created or assigned with an API key"
        )


async def readable(
    tx: Transaction, kind: str, caller: Caller, item_id: str
) -> Document:
    """The item if the caller may read it, else 404."""
    for team in (caller.team_id, SYSTEM_TEAM_ID):
        doc = await tx.documents(kind).get(team, item_id)
        if doc is not None and can_read(doc, caller):
            return doc
    raise NotFound(f"{kind.rstrip('s').replace('_', ' ')} {item_id!r} not found")


async def writable(
    tx: Transaction, kind: str, caller: Caller, item_id: str
) -> Document:
    """The item if the caller may change it: 404 when unreadable, 403 when read-only."""
    doc = await readable(tx, kind, caller, item_id)
    if not can_write(doc, caller):
        raise Forbidden(
            f"{kind.rstrip('s').replace('_', ' ')} {item_id!r} is read-only for you"
        )
    return doc


async def visible(
    tx: Transaction,
    kind: str,
    caller: Caller,
    *,
    level: LevelFilter,
    query: Query,
) -> tuple[list[Document], int]:
    """Readable items (own team and system), filtered and paged, newest first."""
    everything = Query(equals=query.equals, search=query.search)
    own, _ = await tx.documents(kind).find(caller.team_id, everything)
    system, _ = await tx.documents(kind).find(
        SYSTEM_TEAM_ID,
        Query(equals={**query.equals, "status": "system"}, search=query.search),
    )
    docs = [d for d in [*own, *system] if can_read(d, caller)]
    if level != LevelFilter.ALL:
        docs = [d for d in docs if level_of(d) == level.value]
    docs.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    size = query.size or len(docs) or 1
    start = (query.page - 1) * size
    return docs[start : start + size], len(docs)


def new_document(
    caller: Caller, body: JsonDict, *, workflow_id: str | None = None
) -> Document:
    at = wf.now()
    return Document(
        id=new_object_id(),
        team_id=caller.team_id,
        body=body,
        created_at=at,
        updated_at=at,
        created_by=caller.user_id,
        updated_by=caller.user_id,
        workflow_id=workflow_id,
        logical_id=body.get("logical_id"),
        name=body["name"] if isinstance(body.get("name"), str) else None,
        status=str(body.get("access_level") or AccessLevel.PERSONAL.value),
        search_text=_search_text(body),
    )


def updated_document(
    doc: Document, caller: Caller, body: JsonDict, *, workflow_id: str | None = None
) -> Document:
    return replace(
        doc,
        body=body,
        updated_at=wf.now(),
        updated_by=caller.user_id,
        workflow_id=workflow_id,
        logical_id=body.get("logical_id"),
        name=body["name"] if isinstance(body.get("name"), str) else None,
        status=str(body.get("access_level") or AccessLevel.PERSONAL.value),
        search_text=_search_text(body),
    )


def _search_text(body: JsonDict) -> str:
    parts = (body.get(k) for k in ("name", "description", "logical_id"))
    return " ".join(str(p) for p in parts if p).lower()


def require_object(body: Any, what: str) -> JsonDict:
    if not isinstance(body, dict):
        raise InvalidField(f"(body): the {what} must be a JSON object")
    return body


async def seed_system(store: Store, kind: str, body: JsonDict) -> str:
    """Store a ``system`` item readable by every team (operator use; not an API)."""
    operator = Caller(team_id=SYSTEM_TEAM_ID, user_id="system")
    doc = new_document(operator, {**body, "access_level": "system"})
    doc = replace(doc, workflow_id=body.get("workflow_id"))
    async with store.begin() as tx:
        await tx.documents(kind).insert(doc)
    return doc.id


Validate = Callable[[Transaction, Caller, JsonDict], Awaitable[JsonDict]]
"""Checks an item's body in the caller's transaction; returns it normalised."""


@dataclass(frozen=True, slots=True)
class Shelf:
    """The access-checked create, read, list, update and delete of one kind.

    Attributes:
        kind: the collection (``workflow_templates``, ``node_libraries``).
        what: the kind in error messages (``template``).
        validate: checks a body (a whole one: a patch is merged first).
        render: the answer for one item.
        links_workflow: the body's ``workflow_id`` is indexed (templates).
    """

    kind: str
    what: str
    validate: Validate
    render: Callable[[Document], JsonDict]
    links_workflow: bool = False

    def _workflow_id(self, body: JsonDict) -> str | None:
        return body["workflow_id"] if self.links_workflow else None

    async def create(self, store: Store, caller: Caller, raw: Any) -> JsonDict:
        async with store.begin() as tx:
            body = await self.validate(tx, caller, require_object(raw, self.what))
            doc = new_document(caller, body, workflow_id=self._workflow_id(body))
            await tx.documents(self.kind).insert(doc)
        return self.render(doc)

    async def get(self, store: Store, caller: Caller, item_id: str) -> JsonDict:
        async with store.begin() as tx:
            return self.render(await readable(tx, self.kind, caller, item_id))

    async def list_(
        self, store: Store, caller: Caller, level: LevelFilter, query: Query
    ) -> tuple[list[JsonDict], int]:
        async with store.begin() as tx:
            docs, total = await visible(tx, self.kind, caller, level=level, query=query)
        return [self.render(d) for d in docs], total

    async def update(
        self, store: Store, caller: Caller, item_id: str, raw: Any
    ) -> JsonDict:
        patch = require_object(raw, self.what)
        async with store.begin() as tx:
            doc = await writable(tx, self.kind, caller, item_id)
            body = await self.validate(tx, caller, {**doc.body, **patch})
            doc = updated_document(
                doc, caller, body, workflow_id=self._workflow_id(body)
            )
            await tx.documents(self.kind).replace(doc)
        return self.render(doc)

    async def delete(self, store: Store, caller: Caller, item_id: str) -> None:
        async with store.begin() as tx:
            doc = await writable(tx, self.kind, caller, item_id)
            await tx.documents(self.kind).delete(doc.team_id, doc.id)
