"""Secrets inside stored documents: sealed (encrypted) at rest, opened where used.

A tenant writes secrets into ordinary configs: an LLM config's ``api_key`` and
``aws_secret_access_key`` (saved configs, node configs, workflow configs, and the
run snapshots copied from them), node fields such as an EHR or Google ``api_key``
or a conversation node's ``bearer_token``, a webhook's ``bearer_token`` and
``signing_secret``, credential-like ``default_headers``. Every document write goes
through :class:`Sealer` (bound to the store at start-up, ``store.set_sealer``),
which replaces each such value by a sealed text::

    enc:v1:<hint>:<Fernet token of the value>

``hint`` is what responses show anyway (the last four characters of a value longer
than eight, else nothing), so masking (``masking.mask_value``) and "send the mask
back to keep the stored key" work on sealed values without decrypting them.
Documents are read back sealed; code that needs the plaintext opens it where it
uses it (:func:`open_tree`: a run's snapshot before its turn executes, a saved
config before it is tested, a webhook's token before delivery). A value stored in
clear by an older release is read as is, and sealed when its document is written
again.

Without ``THREADLINE_SECRET_KEY`` nothing can be sealed: a write that would store
a secret in clear is refused (``SecretKeyMissing``, 409 ``secret_key_not_set``
naming the field), as for secret variables and vendor credentials. Run documents
are exempt: their snapshot only copies values already stored.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from threadline.errors import SecretKeyMissing
from threadline.service.definitions.masking import SEALED as PREFIX
from threadline.service.definitions.masking import is_secret_field
from threadline.service.team import secrets

__all__ = [
    "PREFIX",
    "SEALED_PATHS",
    "Sealer",
    "hint",
    "is_sealed",
    "open_tree",
    "open_value",
    "seal_tree",
]

JsonDict = dict[str, Any]
SEALED_PATHS: dict[str, tuple[str, ...]] = {
    "nodes": (),
    "workflow_versions": (),
    "llm_configs": (),
    "webhook_subscriptions": (),
    "node_libraries": (),
    "workflow_templates": (),
    "workflow_runs": ("workflow_run", "workflow_config_fully_hydrated"),
}
"""Document kinds that may hold secrets, and where in their body (``()``: all).
Tools are not among them: their schema has no secret field, and their configs are
used as stored (a tool test run reads the document itself)."""
_EXEMPT_WITHOUT_KEY = frozenset({"workflow_runs"})


def is_sealed(value: Any) -> bool:
    """True for a value :func:`seal_tree` produced."""
    return isinstance(value, str) and value.startswith(PREFIX)


def hint(value: str) -> str:
    """The part of a secret responses show: its last 4 characters if longer than 8."""
    if is_sealed(value):
        return value[len(PREFIX) :].split(":", 1)[0]
    return value[-4:] if len(value) > 8 else ""


def _seal(value: str, key: str) -> str:
    return f"{PREFIX}{hint(value)}:{secrets.encrypt(value, key)}"


def open_value(value: Any, key: Any) -> Any:
    """The plaintext of a sealed value (anything else is returned as is)."""
    if not is_sealed(value):
        return value
    token = value[len(PREFIX) :].split(":", 1)[1]
    return secrets.decrypt(token, key)


def _positions(obj: Any, path: str, parent: Any = None) -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every secret position holding a non-empty text."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            where = f"{path}.{k}" if path else str(k)
            if is_secret_field(k, parent) and isinstance(v, str) and v:
                yield where, v
            else:
                yield from _positions(v, where, k)
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from _positions(item, f"{path}.{i}" if path else str(i), parent)


def _map(obj: Any, fn: Any, parent: Any = None) -> Any:
    if isinstance(obj, dict):
        return {
            k: fn(v)
            if is_secret_field(k, parent) and isinstance(v, str) and v
            else _map(v, fn, k)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_map(item, fn, parent) for item in obj]
    return obj


def seal_tree(obj: Any, key: str) -> Any:
    """A copy of ``obj`` with every secret value sealed (sealed ones kept)."""
    return _map(obj, lambda v: v if is_sealed(v) else _seal(v, key))


def open_tree(obj: Any, key: Any) -> Any:
    """A copy of ``obj`` with every sealed value opened (for use, never stored).

    ``obj`` itself when it holds no sealed value: nothing to open, no copy (a
    sealed value is a text starting with ``PREFIX``; its JSON text holds
    ``PREFIX`` then, which one C-speed search of the encoded tree finds)."""
    if not _may_hold_sealed(obj):
        return obj
    return _map(obj, lambda v: open_value(v, key))


_PREFIX_BYTES = PREFIX.encode()


def _may_hold_sealed(obj: Any) -> bool:
    """False only when no text anywhere in ``obj`` (key or value) holds ``PREFIX``."""
    try:
        text = orjson.dumps(obj)
    except TypeError:  # not plain JSON (orjson.JSONEncodeError): walk it
        return True
    return _PREFIX_BYTES in text


def _has_clear(obj: Any) -> str | None:
    """The path of the first secret stored in clear in ``obj``, if any."""
    for where, value in _positions(obj, ""):
        if not is_sealed(value):
            return where
    return None


@dataclass(frozen=True)
class Sealer:
    """The store's write hook: seals the secrets of a document body.

    ``key`` is ``THREADLINE_SECRET_KEY`` (None: refuse to store a secret in
    clear, except in run documents, which only copy stored values).
    """

    key: str | None

    def __call__(self, kind: str, body: JsonDict) -> JsonDict:
        path = SEALED_PATHS.get(kind)
        if path is None:
            return body
        inner: Any = body
        for step in path:
            inner = inner.get(step) if isinstance(inner, dict) else None
        if inner is None or _has_clear(inner) is None:
            return body
        if self.key is None:
            if kind in _EXEMPT_WITHOUT_KEY:
                return body
            where = _has_clear(inner)
            raise SecretKeyMissing(
                f"{where}: this server stores no secret in clear and has no "
                f"{secrets.ENV_VAR} to encrypt it; {secrets.HOW_TO_SET}",
                details=[
                    {
                        "field": where,
                        "message": f"{secrets.ENV_VAR} is not set",
                        "type": "secret_key_not_set",
                    }
                ],
            )
        return _replace_at(body, path, seal_tree(inner, self.key))


def _replace_at(body: JsonDict, path: tuple[str, ...], value: Any) -> JsonDict:
    if not path:
        return dict(value)
    head, rest = path[0], path[1:]
    return {**body, head: _replace_at(body[head], rest, value)}
