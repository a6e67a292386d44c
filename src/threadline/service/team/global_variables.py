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

The stored documents are ``variable_documents``'. Run time (``run_globals``):
:func:`for_run` loads the team's variables with secrets decrypted; the
run service passes every value as ``TurnEnv.globals_`` and the secret values as
``Ports.secret_values`` (the run's ``secret_variables``), which redacts them
from HTTP events and curl commands and, through ``secrets.redact_in_place``, from
every event and output of the turn. The result is cached per team
(``service.team.team_cache``): every write below forgets it once committed, other
processes see a write within ``THREADLINE_TEAM_CACHE_SECONDS``.
"""

from datetime import timedelta
from typing import Any

from threadline.errors import ConfigError, Conflict, InvalidField
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.team import secrets, vendor_credentials
from threadline.service.team.run_globals import TeamGlobals, for_run, for_run_in
from threadline.service.team.sealing import Sealer
from threadline.service.team.variable_documents import (
    COLLECTION,
    MASK,
    SECRET_STATUS,
    all_of,
    changed,
    document,
    duplicate,
    lock_names,
    must_get,
    name_taken,
    new_body,
    render,
    shown_value,
    stored_body,
)
from threadline.service.team.variable_values import (
    ValueLimits,
    as_object,
    check_value,
    field_error,
    optional_flag,
    optional_text,
    secret_text,
    valid_name,
)
from threadline.store import Document, Query, Store

__all__ = [
    "COLLECTION",
    "MASK",
    "SECRET_STATUS",
    "TeamGlobals",
    "bulk_create",
    "check_startup",
    "create",
    "delete",
    "for_run",
    "for_run_in",
    "get",
    "list_",
    "render",
    "resolve",
    "update",
]

JsonDict = dict[str, Any]


async def _insert(store: Store, caller: Caller, body: JsonDict) -> Document:
    async with store.begin() as tx:
        await lock_names(tx, caller.team_id)
        if await name_taken(tx, caller.team_id, body["name"]):
            raise duplicate(body["name"])
        doc = document(caller, body, wf.now())
        await tx.documents(COLLECTION).insert(doc)
    changed(store, caller.team_id)
    return doc


async def create(
    store: Store,
    caller: Caller,
    raw: Any,
    key: str | None,
    limits: ValueLimits = ValueLimits(),
) -> JsonDict:
    """Validate and save one variable (a secret encrypted with ``key``)."""
    return render(await _insert(store, caller, new_body(raw, key, limits)))


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
                store, caller, new_body(item, key, limits, f"variables.{index}.")
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
        return render(await must_get(tx, caller, variable_id))


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
        doc = await must_get(tx, caller, variable_id)
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
            body = stored_body(name, value, description, category, is_secret, key)
        if name != old["name"]:
            await lock_names(tx, caller.team_id)
            if await name_taken(tx, caller.team_id, name, doc.id):
                raise duplicate(name)
        new = document(caller, body, wf.now(), previous=doc)
        await tx.documents(COLLECTION).replace(new)
    changed(store, caller.team_id)
    return render(new)


async def delete(store: Store, caller: Caller, variable_id: str) -> None:
    """Delete one variable (404 when the team has no such variable)."""
    async with store.begin() as tx:
        doc = await must_get(tx, caller, variable_id)
        await tx.documents(COLLECTION).delete(caller.team_id, doc.id)
    changed(store, caller.team_id)


async def resolve(store: Store, caller: Caller) -> JsonDict:
    """``{variables: {name: value}}`` for the team; secrets are masked."""
    async with store.begin() as tx:
        docs = await all_of(tx, caller.team_id)
    return {"variables": {d.body["name"]: shown_value(d.body) for d in docs}}


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
