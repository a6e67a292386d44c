"""Reading and writing a team's managed prompts (the API's CRUD).

Every member of the team reads and writes them (the ``team`` access level); they
are addressed by name, unique in a team. A ``PATCH`` that changes ``text`` makes
a new version; one that changes only ``description`` does not. A built-in name
answers its default text until the team stores its own (``PATCH``: version 1);
deleting that restores the built-in text.
"""

from typing import Any

from threadline.errors import Conflict, InvalidField, NotFound
from threadline.service.caller import Caller
from threadline.service.definitions import workflows as wf
from threadline.service.reuse.managed_prompts.built_ins import BUILT_IN, render_built_in
from threadline.service.reuse.managed_prompts.limits import (
    PromptLimits,
    check_description,
    check_name,
    check_text,
    require_object,
)
from threadline.service.reuse.managed_prompts.records import (
    KIND,
    find_stored,
    insert,
    lock,
    render,
    replace_body,
    version_entry,
)
from threadline.store import Query, Store

JsonDict = dict[str, Any]


async def get(
    store: Store, caller: Caller, name: str, version: int | None = None
) -> JsonDict:
    """The prompt (its current version, or ``version``)."""
    check_name(name)
    async with store.begin() as tx:
        doc = await find_stored(tx, caller.team_id, name)
    if doc is None:
        if name in BUILT_IN and version in (None, 0):
            return render_built_in(caller.team_id, name)
        raise NotFound(f"managed prompt {name!r} not found")
    out = render(doc)
    if version is None or version == out["version"]:
        return out
    for old in doc.body.get("versions") or []:
        if old["version"] == version:
            return {**out, "text": old["text"], "version": version}
    raise NotFound(f"managed prompt {name!r} has no version {version} (kept)")


async def versions(store: Store, caller: Caller, name: str) -> JsonDict:
    """The kept versions of a prompt, newest first."""
    check_name(name)
    async with store.begin() as tx:
        doc = await find_stored(tx, caller.team_id, name)
    if doc is None:
        if name in BUILT_IN:
            default = {"version": 0, "text": BUILT_IN[name]["text"]}
            return {"name": name, "versions": [default]}
        raise NotFound(f"managed prompt {name!r} not found")
    kept = list(reversed(doc.body.get("versions") or []))
    return {"name": name, "versions": kept}


async def list_(
    store: Store, caller: Caller, *, page: int, size: int, search: str | None
) -> tuple[list[JsonDict], int]:
    """The team's prompts and the built-ins it has not replaced, by name."""
    async with store.begin() as tx:
        docs, _ = await tx.documents(KIND).find(
            caller.team_id, Query(search=search or None)
        )
    items = [render(d) for d in docs]
    stored = {i["name"] for i in items}
    needle = (search or "").lower()
    items += [
        render_built_in(caller.team_id, name)
        for name in BUILT_IN
        if name not in stored and needle in name.lower()
    ]
    items.sort(key=lambda i: i["name"])
    start = (page - 1) * size
    return items[start : start + size], len(items)


async def create(
    store: Store, caller: Caller, raw: Any, limits: PromptLimits
) -> JsonDict:
    """A new prompt at version 1 (409 when the name exists, built-ins included)."""
    body = require_object(raw)
    name = check_name(body.get("name"))
    text = check_text(body.get("text"), limits)
    description = check_description(body.get("description"))
    async with store.begin() as tx:
        await lock(tx, caller, name)
        if name in BUILT_IN or await find_stored(tx, caller.team_id, name) is not None:
            raise Conflict(
                f"managed prompt {name!r} already exists; PATCH it to make a new "
                "version",
                code="already_exists",
            )
        count = await tx.documents(KIND).count(caller.team_id, {})
        if count >= limits.max_per_team:
            raise Conflict(
                f"this team has {count} managed prompts, this server's limit "
                "(THREADLINE_MANAGED_PROMPTS_MAX_PER_TEAM)",
                code="over_limit",
            )
        doc = await insert(tx, caller, name, text, description, 1)
    return render(doc)


async def update(
    store: Store, caller: Caller, name: str, raw: Any, limits: PromptLimits
) -> JsonDict:
    """Change the text (a new version) and/or the description."""
    check_name(name)
    patch = require_object(raw)
    if "name" in patch and patch["name"] != name:
        raise InvalidField("name: a managed prompt cannot be renamed")
    text = check_text(patch["text"], limits) if "text" in patch else None
    has_description = "description" in patch
    description = check_description(patch.get("description"))
    async with store.begin() as tx:
        await lock(tx, caller, name)
        doc = await find_stored(tx, caller.team_id, name)
        if doc is None:
            if name not in BUILT_IN:
                raise NotFound(f"managed prompt {name!r} not found")
            default = BUILT_IN[name]
            stored = await insert(
                tx,
                caller,
                name,
                default["text"] if text is None else text,
                description if has_description else default["description"],
                1,
            )
            return render(stored)
        body = dict(doc.body)
        if has_description:
            body["description"] = description
        if text is not None and text != body["text"]:
            body["version"] = int(body["version"]) + 1
            body["text"] = text
            at = wf.now().isoformat()
            kept = [
                *body.get("versions", []),
                version_entry(text, body["version"], caller, at),
            ]
            body["versions"] = kept[-limits.versions_kept :]
        new = await replace_body(tx, caller, doc, body)
    return render(new)


async def delete(store: Store, caller: Caller, name: str) -> None:
    """Delete a prompt (a built-in's stored text: the default comes back)."""
    check_name(name)
    async with store.begin() as tx:
        await lock(tx, caller, name)
        doc = await find_stored(tx, caller.team_id, name)
        if doc is None:
            if name in BUILT_IN:
                raise Conflict(
                    f"managed prompt {name!r} is built in and cannot be deleted; "
                    "PATCH it to change its text",
                    code="built_in",
                )
            raise NotFound(f"managed prompt {name!r} not found")
        await tx.documents(KIND).delete(caller.team_id, doc.id)
