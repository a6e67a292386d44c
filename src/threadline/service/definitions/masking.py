"""Masking API keys in responses, and restoring them when a client sends masks back.

Any JSON that may hold LLM configs (saved configs, node configs, workflow configs,
run snapshots) goes through ``mask_secrets`` before it leaves the service: keys
become ``"****"`` plus their last four characters. An update that sends a masked
value back keeps the stored secret (``restore_secrets``).
"""

from collections.abc import Iterator
from typing import Any

from threadline.errors import InvalidField

JsonDict = dict[str, Any]
Path = tuple[str | int, ...]
MASK = "****"
SECRET_KEYS = frozenset(
    {"api_key", "aws_secret_access_key", "bearer_token", "signing_secret"}
)
SEALED = "enc:v1:"
"""How ``service.team.sealing`` marks a sealed value."""
_HEADER_WORDS = ("authorization", "api-key", "api_key", "apikey", "token", "secret")


def mask_value(value: str) -> str:
    """``"****"`` plus the last four characters (only ``"****"`` for short values).

    A value sealed at rest (``service.team.sealing``) carries those characters in
    clear, so it masks the same as its plaintext without being decrypted.
    """
    if is_masked(value):
        return value
    if value.startswith(SEALED):
        return MASK + value[len(SEALED) :].split(":", 1)[0]
    return MASK + value[-4:] if len(value) > 8 else MASK


def is_masked(value: Any) -> bool:
    """True for a value ``mask_value`` produced (what clients get back)."""
    return isinstance(value, str) and value.startswith(MASK)


def is_secret_field(key: Any, parent: Any) -> bool:
    """True when a dict entry ``key`` (inside ``parent``) holds a secret."""
    return _is_secret(key, parent)


def _is_secret(key: Any, parent: Any) -> bool:
    if key in SECRET_KEYS:
        return True
    if parent == "default_headers" and isinstance(key, str):
        name = key.lower()
        return any(word in name for word in _HEADER_WORDS)
    return False


def _reveal(value: Any) -> Any:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def mask_secrets(obj: Any, _parent: Any = None) -> Any:
    """A copy of ``obj`` (any JSON) with every LLM secret masked.

    Apply it to anything returned to clients that may hold LLM configs: saved
    configs, and run records (their ``workflow_config_fully_hydrated`` snapshot
    holds the resolved configs, keys included).
    """
    if isinstance(obj, dict):
        out: JsonDict = {}
        for key, value in obj.items():
            value = _reveal(value)
            if _is_secret(key, _parent) and isinstance(value, str) and value:
                out[key] = mask_value(value)
            else:
                out[key] = mask_secrets(value, key)
        return out
    if isinstance(obj, list):
        return [mask_secrets(item, _parent) for item in obj]
    return obj


def _secrets(
    obj: Any, path: Path = (), parent: Any = None
) -> Iterator[tuple[Path, Any]]:
    """Every secret position of ``obj`` with its value (set or not)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if _is_secret(key, parent):
                yield (*path, key), value
            else:
                yield from _secrets(value, (*path, key), key)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from _secrets(item, (*path, index), parent)


def _set(obj: Any, path: Path, value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


def _dotted(prefix: str, path: Path) -> str:
    return ".".join(str(p) for p in (prefix, *path) if p != "")


def restore_secrets(
    new: JsonDict, stored: JsonDict | None, *, field: str, keep_missing: bool
) -> JsonDict:
    """Put the stored secrets back where ``new`` holds their masked value.

    A masked value is matched to the stored secret at the same place, else to the
    one stored secret with that mask; none → 422 naming the field. With
    ``keep_missing`` (test overrides) a null secret also reuses the stored one at
    the same place. ``new`` is changed in place and returned.
    """
    known = {path: v for path, v in _secrets(stored or {}) if isinstance(v, str) and v}
    by_mask: dict[str, list[str]] = {}
    for value in known.values():
        by_mask.setdefault(mask_value(value), []).append(value)
    for path, value in list(_secrets(new)):
        if is_masked(value):
            same_place = known.get(path)
            if same_place is not None and mask_value(same_place) == value:
                _set(new, path, same_place)
                continue
            candidates = set(by_mask.get(value, []))
            if len(candidates) != 1:
                raise InvalidField(
                    f"{_dotted(field, path)}: the masked value {value!r} matches no "
                    "stored secret; send the real value",
                    details=[
                        {
                            "field": _dotted(field, path),
                            "message": "masked secret matches no stored secret",
                            "type": "value_error",
                        }
                    ],
                )
            _set(new, path, candidates.pop())
        elif value is None and keep_missing and path in known:
            _set(new, path, known[path])
    return new
