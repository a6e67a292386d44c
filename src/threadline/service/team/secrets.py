"""Encrypting secret values at rest, and redacting them from anything stored or shown.

The key is a Fernet key (32 random bytes, URL-safe base64) from
``THREADLINE_SECRET_KEY`` (``Settings.secret_key``). ``bootstrap`` binds the
configured key to the store it opens (:func:`bind_key`); code that only holds the
store (the run service) finds it again with :func:`key_for`, which falls back to
the ``THREADLINE_SECRET_KEY`` environment variable for entry points that never ran
``bootstrap`` (the CLI, workers).

:func:`redact` replaces every occurrence of a secret value, in every form the
server writes it (``tools.curl.secret_variants``: URL- and JSON-escaped, and upper-
and lower-cased for secrets of 8 characters or more), by ``[REDACTED]`` in any JSON
value; the run service applies it to each turn's events and outputs before they
are returned or persisted. :func:`with_template_forms` adds what the workflow's own
templates make of a secret (``{{global.token | replace: 'a', 'b'}}``).

Not caught: a secret transformed by something the server does not render itself:
a tool's code (inline Python reversing it, base64-encoding it), an HTTP endpoint
or a model echoing it changed, a runtime variable holding a copy that a later
template transforms. Those reach events as the transformed text.
"""

import dataclasses
import os
import weakref
from collections.abc import Collection, Iterator, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken

from threadline.engine.placeholders import Kind
from threadline.engine.render_limits import RenderLimitExceeded
from threadline.engine.state import RunState
from threadline.engine.templates import find_placeholders, resolve_placeholder
from threadline.engine.turn import TurnOutcome
from threadline.errors import ConfigError, SecretKeyMissing
from threadline.tools.curl import redact_variants, secret_variants
from threadline.tools.http_call import REDACTED

__all__ = [
    "REDACTED",
    "bind_key",
    "check_key",
    "decrypt",
    "encrypt",
    "key_for",
    "redact",
    "redact_in_place",
    "redact_turn",
    "reveal",
    "with_template_forms",
]

ENV_VAR = "THREADLINE_SECRET_KEY"
HOW_TO_SET = (
    f"set {ENV_VAR} on the server to a Fernet key (generate one with `python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`) '
    "and restart it"
)
"""What every ``secret_key_not_set`` message tells the caller to do."""
T = TypeVar("T")
_keys: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()


def reveal(key: Any) -> str | None:
    """The key as text (``SecretStr`` unwrapped); None when unset or empty."""
    getter = getattr(key, "get_secret_value", None)
    value = getter() if callable(getter) else key
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _fernet(key: Any) -> Fernet:
    text = reveal(key)
    if text is None:
        raise SecretKeyMissing(
            f"{ENV_VAR} is not set: this server can neither encrypt nor decrypt "
            f"secrets, so it stores none; {HOW_TO_SET}"
        )
    try:
        return Fernet(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigError(
            f"{ENV_VAR} is not a valid Fernet key (32 random bytes, URL-safe "
            "base64; generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`)"
        ) from exc


def check_key(key: Any) -> str | None:
    """The key as text after checking it is a valid Fernet key (None when unset)."""
    text = reveal(key)
    if text is not None:
        _fernet(text)
    return text


def encrypt(plaintext: str, key: Any) -> str:
    """``plaintext`` as a Fernet token (text).

    Raises ``SecretKeyMissing`` (409) without a key, ``ConfigError`` with an
    invalid one (start-up refuses an invalid key, so only tests see that).
    """
    return _fernet(key).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, key: Any) -> str:
    """The plaintext of a :func:`encrypt` token; ``ConfigError`` if the key is wrong."""
    try:
        return _fernet(key).decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ConfigError(
            f"a stored secret cannot be decrypted with {ENV_VAR}: the key is not "
            "the one the secret was encrypted with"
        ) from exc


def bind_key(store: object, key: Any) -> None:
    """Remember ``key`` (checked) as the secret key of everything using ``store``."""
    text = check_key(key)
    if text is None:
        _keys.pop(store, None)
    else:
        _keys[store] = text


def key_for(store: object) -> str | None:
    """The key bound to ``store`` by ``bootstrap``, else ``THREADLINE_SECRET_KEY``."""
    bound = _keys.get(store)
    return bound if bound is not None else reveal(os.environ.get(ENV_VAR))


KEY_MATCH_MIN = 8
"""Inside a dict key only secrets this long are searched (shorter: whole keys)."""


def _redact_key(key: Any, variants: list[str]) -> Any:
    """A dict key with secrets hidden. Keys are mostly structure (field and
    variable names): a short secret is replaced only when it is the whole key, so
    "x" does not turn ``node_executions`` into ``node_e[REDACTED]ecutions``."""
    if not isinstance(key, str):
        return key
    if key in variants:
        return REDACTED
    return redact_variants(key, [v for v in variants if len(v) >= KEY_MATCH_MIN])


def _redact(obj: Any, variants: list[str]) -> Any:
    if isinstance(obj, str):
        return redact_variants(obj, variants)
    if isinstance(obj, dict):
        return {_redact_key(k, variants): _redact(v, variants) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_redact(item, variants) for item in obj]
    return obj


def redact(obj: Any, secret_values: Collection[str]) -> Any:
    """A copy of ``obj`` (any JSON) with every secret value replaced by [REDACTED].

    Strings anywhere are searched for each secret and its URL- and JSON-escaped
    forms, longest first; in dict keys, a secret shorter than ``KEY_MATCH_MIN``
    is only replaced when it is the whole key (keys are structure). Without
    secrets ``obj`` is returned unchanged.
    """
    variants = secret_variants(secret_values)
    if not variants:
        return obj
    return _redact(obj, variants)


def redact_in_place(target: T, secret_values: Collection[str]) -> T:
    """Redact every field of a dataclass instance (e.g. a ``TurnOutcome``); return it.

    Used on the turn's outcome before it is returned and persisted, so a secret a
    node rendered into an event (a static message, ``workflow_show_state``, an
    LLM prompt) never reaches a client or the run record.
    """
    variants = secret_variants(secret_values)
    if not variants:
        return target
    for f in fields(target):  # type: ignore[arg-type]
        setattr(target, f.name, _redact(getattr(target, f.name), variants))
    return target


def redact_turn(
    state: RunState, outcome: TurnOutcome, secret_values: Collection[str]
) -> TurnOutcome:
    """Redact a finished turn: its outcome and the run state about to be stored.

    The state (conversation history, runtime variables) is rebuilt from its
    redacted JSON in place, so later turns and the LLM history see ``[REDACTED]``
    where a node copied a secret; ``{{global.name}}`` is rendered afresh each turn.
    """
    if not secret_values:
        return outcome
    clean = RunState.from_json(redact(state.to_json(), secret_values))
    for f in fields(state):
        setattr(state, f.name, getattr(clean, f.name))
    return redact_in_place(outcome, secret_values)


def _texts(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from _texts(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _texts(item)


def with_template_forms(
    secret_values: Collection[str], graph: Any, globals_: Mapping[str, Any]
) -> tuple[str, ...]:
    """``secret_values`` plus what ``graph``'s templates make of them.

    Every ``{{global.<name> | <filters>}}`` in ``graph`` (any JSON: a run's config
    snapshot) whose unfiltered value is a secret is rendered with ``globals_``;
    a text result (``replace``, ``remove``, ``append``, ``capitalize``, ...) is
    redacted as a secret too, when it is at least as long as the shortest secret.
    """
    hidden = {s for s in secret_values if s}
    if not hidden:
        return tuple(secret_values)
    shortest = min(len(s) for s in hidden)
    derived: set[str] = set()
    for text in _texts(graph):
        if "global" not in text:
            continue
        for found in find_placeholders(text):
            if found.kind != Kind.GLOBAL or not found.filters:
                continue
            bare = dataclasses.replace(found, filters=())
            if resolve_placeholder(bare, globals_=globals_) not in hidden:
                continue
            try:
                value = resolve_placeholder(found, globals_=globals_)
            except RenderLimitExceeded:
                continue  # the node's own render fails the same way: nothing shown
            if isinstance(value, str) and len(value) >= shortest:
                derived.add(value)
    return (*secret_values, *sorted(derived - hidden))
