"""Team global variables: ``{{global.name}}`` values, some of them encrypted secrets.

One ``global_variables`` document per variable, body ``{name, value, description,
category, is_secret}`` plus, for a secret, ``ciphertext`` (a Fernet token, see
:mod:`threadline.service.team.secrets`) instead of ``value`` (stored as null). Indexed
columns: ``name``, ``type`` (the category) and ``status`` (``"secret"`` for
secrets, else null — which also lets start-up find a stored secret of any team).

Rules:

- names are identifiers (``[A-Za-z_][A-Za-z0-9_]*``, at most 128 characters),
  case-sensitive and unique per team (a duplicate → 409); the system names
  (``interactly_api_base_url``, ``interactly_api_token``) are reserved (409);
- a plain value may be any JSON (default ``""``); a secret value must be a string;
- a value is checked before it is stored (:class:`ValueLimits`): valid Unicode
  (no lone surrogate, no NUL), integers within ±(2**53 - 1), at most
  ``THREADLINE_MAX_VARIABLE_DEPTH`` levels deep (422 ``variable_too_deep``) and
  ``THREADLINE_MAX_VARIABLE_BYTES`` of compact UTF-8 JSON (422
  ``variable_too_large``); a row stored before that check whose value cannot be
  sent is shown with ``value: null`` and a ``value_error`` (and resolves to null,
  also at run time), until it is updated or deleted;
- a secret is never returned in clear: every response (get, list, create,
  update, bulk, resolve) shows ``"********"``; sending that mask back on update
  keeps the stored secret; turning ``is_secret`` off needs a new ``value`` (so a
  secret cannot be read back by flipping the flag);
- storing a secret needs ``THREADLINE_SECRET_KEY`` (else 409
  ``secret_key_not_set``), and the service refuses to start with secrets stored
  and no key (:func:`check_startup`, which also checks the team vendor credentials of
  ``service.team.vendor_credentials``).

System variables (``is_system``) are not listed: Threadline has no platform API
token to expose, so the system rows of the Interactly service are left out and
only their names are reserved.

Run time: :func:`for_run` loads the team's variables with secrets decrypted; the
run service passes every value as ``TurnEnv.globals_`` and the secret values as
``Ports.secret_values`` (the run's ``secret_variables``), which redacts them
from HTTP events and curl commands and, through ``secrets.redact_in_place``, from
every event and output of the turn. The result is cached per team
(``service.team.team_cache``): every write below forgets it once committed, other
processes see a write within ``THREADLINE_TEAM_CACHE_SECONDS``.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from threadline.errors import ConfigError, Conflict, InvalidField, NotFound
from threadline.ids import is_object_id, new_object_id
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.team import secrets, team_cache, vendor_credentials
from threadline.service.team.sealing import Sealer
from threadline.service.team.variable_values import (
    ValueLimits,
    as_object,
    check_value,
    field_error,
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


@dataclass(frozen=True)
class TeamGlobals:
    """A team's variables for a run: every value (decrypted) and the secret ones."""

    values: JsonDict = field(default_factory=dict)
    secret_values: tuple[str, ...] = ()


# ---------------------------------------------------------------- documents


def _body(
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


def _document(
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


def _shown_value(body: JsonDict) -> Any:
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


async def _lock(tx: Transaction, team_id: str) -> None:
    """Serialise name checks of one team (unique names without a unique index)."""
    await tx.lock(f"{COLLECTION}:{team_id}")


async def _taken(
    tx: Transaction, team_id: str, name: str, own_id: str | None = None
) -> bool:
    docs, _ = await tx.documents(COLLECTION).find(
        team_id, Query(equals={"name": name}, size=2)
    )
    return any(d.id != own_id for d in docs)


def _duplicate(name: str) -> Conflict:
    return Conflict(f"the team already has a global variable named {name!r}")


async def _must_get(tx: Transaction, caller: Caller, variable_id: str) -> Document:
    doc = None
    if is_object_id(variable_id):
        doc = await tx.documents(COLLECTION).get(caller.team_id, variable_id)
    if doc is None:
        raise NotFound(f"global variable {variable_id!r} not found")
    return doc


def _changed(store: Store, team_id: str) -> None:
    """A write of ``team_id``'s variables committed: runs read them again."""
    team_cache.of(store).invalidate(team_cache.VARIABLES, team_id)


# -------------------------------------------------------------------- CRUD


def _new_body(
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
    return _body(
        valid_name(item.get("name"), f"{prefix}name"),
        value,
        optional_text(item, "description", f"{prefix}description"),
        optional_text(item, "category", f"{prefix}category"),
        is_secret,
        key,
    )


async def _insert(store: Store, caller: Caller, body: JsonDict) -> Document:
    async with store.begin() as tx:
        await _lock(tx, caller.team_id)
        if await _taken(tx, caller.team_id, body["name"]):
            raise _duplicate(body["name"])
        doc = _document(caller, body, wf.now())
        await tx.documents(COLLECTION).insert(doc)
    _changed(store, caller.team_id)
    return doc


async def create(
    store: Store,
    caller: Caller,
    raw: Any,
    key: str | None,
    limits: ValueLimits = ValueLimits(),
) -> JsonDict:
    """Validate and save one variable (a secret encrypted with ``key``)."""
    return render(await _insert(store, caller, _new_body(raw, key, limits)))


async def bulk_create(
    store: Store,
    caller: Caller,
    raw: Any,
    key: str | None,
    limits: ValueLimits = ValueLimits(),
) -> JsonDict:
    """``{variables: [...]}`` → ``{created, errors, total_created, total_errors}``.

    Each item is created on its own (atomic per item, not as a whole); a failed
    item is reported as ``{index, name, status, code, error}`` and the rest go on.
    """
    body = as_object(raw, "bulk request")
    items = body.get("variables")
    if not isinstance(items, list):
        raise field_error("variables", "a list of variables is required", "list_type")
    if key is None and any(
        isinstance(item, dict) and item.get("is_secret") is True for item in items
    ):
        secrets.encrypt("", key)  # refused (409) before anything is created
    created: list[JsonDict] = []
    errors: list[JsonDict] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            doc = await _insert(
                store, caller, _new_body(item, key, limits, f"variables.{index}.")
            )
        except (InvalidField, Conflict) as exc:
            errors.append(
                {
                    "index": index,
                    "name": name,
                    "status": exc.status,
                    "code": exc.code,
                    "error": exc.message,
                }
            )
        else:
            created.append(render(doc))
    return {
        "created": created,
        "errors": errors,
        "total_created": len(created),
        "total_errors": len(errors),
    }


async def get(store: Store, caller: Caller, variable_id: str) -> JsonDict:
    """One variable of the caller's team (404 for another team's)."""
    async with store.begin() as tx:
        return render(await _must_get(tx, caller, variable_id))


async def list_(
    store: Store, caller: Caller, query: Query, category: str | None = None
) -> tuple[list[JsonDict], int]:
    """The team's variables, newest first; ``search`` and ``category`` filter."""
    if category is not None:
        query = Query(
            equals={**query.equals, "type": category},
            ids=query.ids,
            search=query.search,
            start=query.start,
            end=query.end,
            page=query.page,
            size=query.size,
            newest_first=query.newest_first,
        )
    async with store.begin() as tx:
        docs, total = await tx.documents(COLLECTION).find(caller.team_id, query)
    return [render(d) for d in docs], total


async def update(
    store: Store,
    caller: Caller,
    variable_id: str,
    raw: Any,
    key: str | None,
    limits: ValueLimits = ValueLimits(),
) -> JsonDict:
    """Apply the fields given (an omitted or masked secret value keeps the secret)."""
    patch = as_object(raw, "global variable update")
    async with store.begin() as tx:
        doc = await _must_get(tx, caller, variable_id)
        old = doc.body
        name = old["name"]
        if patch.get("name") is not None:
            name = valid_name(patch["name"])
        description = old.get("description")
        if "description" in patch:
            description = optional_text(patch, "description", "description")
        category = old.get("category")
        if "category" in patch:
            category = optional_text(patch, "category", "category")
        was_secret = bool(old.get("is_secret"))
        flag = optional_flag(patch, "is_secret", "is_secret")
        is_secret = was_secret if flag is None else flag
        sent = "value" in patch and patch["value"] != MASK
        value: Any
        if sent:
            value = "" if patch["value"] is None else patch["value"]
            value = check_value(value, "value", limits)
            if is_secret:
                value = secret_text(value, "value")
        elif was_secret and not is_secret:
            raise field_error(
                "value",
                "turning is_secret off needs a new value (a secret is never revealed)",
                "missing",
            )
        elif was_secret:
            value = None  # keep the stored ciphertext
        else:
            value = old.get("value")
            if is_secret:
                value = secret_text(value, "value")
        if value is None:
            body = {
                **old,
                "name": name,
                "description": description,
                "category": category,
            }
        else:
            body = _body(name, value, description, category, is_secret, key)
        if name != old["name"]:
            await _lock(tx, caller.team_id)
            if await _taken(tx, caller.team_id, name, doc.id):
                raise _duplicate(name)
        new = _document(caller, body, wf.now(), previous=doc)
        await tx.documents(COLLECTION).replace(new)
    _changed(store, caller.team_id)
    return render(new)


async def delete(store: Store, caller: Caller, variable_id: str) -> None:
    """Delete one variable (404 when the team has no such variable)."""
    async with store.begin() as tx:
        doc = await _must_get(tx, caller, variable_id)
        await tx.documents(COLLECTION).delete(caller.team_id, doc.id)
    _changed(store, caller.team_id)


async def _all(tx: Transaction, team_id: str) -> list[Document]:
    docs, _ = await tx.documents(COLLECTION).find(team_id, Query(newest_first=False))
    return docs


async def resolve(store: Store, caller: Caller) -> JsonDict:
    """``{variables: {name: value}}`` for the team; secrets are masked."""
    async with store.begin() as tx:
        docs = await _all(tx, caller.team_id)
    return {"variables": {d.body["name"]: _shown_value(d.body) for d in docs}}


# ------------------------------------------------------------- run time


async def for_run(store: Store, team_id: str) -> TeamGlobals:
    """The team's variables for a turn, secrets decrypted with the store's key."""
    async with store.begin() as tx:
        return await for_run_in(tx, store, team_id)


async def for_run_in(tx: Transaction, store: Store, team_id: str) -> TeamGlobals:
    """:func:`for_run` inside a transaction the caller holds (cached per team)."""
    cache = team_cache.of(store)
    found: TeamGlobals | None = cache.get(team_cache.VARIABLES, team_id)
    if found is not None:
        return found
    ticket = cache.ticket(team_cache.VARIABLES, team_id)
    found = await _load(tx, store, team_id)
    cache.put(team_cache.VARIABLES, team_id, found, ticket)
    return found


async def _load(tx: Transaction, store: Store, team_id: str) -> TeamGlobals:
    docs = await _all(tx, team_id)
    if not docs:
        return TeamGlobals()
    key = secrets.key_for(store)
    values: JsonDict = {}
    hidden: list[str] = []
    for doc in docs:
        body = doc.body
        if body.get("is_secret"):
            plain = secrets.decrypt(str(body.get("ciphertext") or ""), key)
            values[body["name"]] = plain
            if plain:
                hidden.append(plain)
        else:
            values[body["name"]] = _shown_value(body)
    return TeamGlobals(values=values, secret_values=tuple(hidden))


async def check_startup(store: Store, key: Any) -> None:
    """Bind the secret key (and the sealer of stored documents,
    ``service.team.sealing``) to ``store``; refuse to start if secrets need a key.

    An invalid key, or stored secrets (of any team) with no key, raise a
    ``ConfigError`` naming ``THREADLINE_SECRET_KEY``.
    """
    text = secrets.check_key(key)
    secrets.bind_key(store, text)
    store.set_sealer(Sealer(text))
    if text is not None:
        return
    far = wf.now() + timedelta(days=36_500)
    async with store.begin() as tx:
        stored = await tx.documents(COLLECTION).find_stale(SECRET_STATUS, far, 1)
    if stored:
        raise ConfigError(
            f"secret global variables are stored but {secrets.ENV_VAR} is not set; "
            "set it to the Fernet key they were encrypted with"
        )
    await vendor_credentials.check_startup(store, text)
