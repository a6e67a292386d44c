"""What a vendor credential may hold: the vendors and their aliases, the fields
each takes, and a request body checked into the credential's fields."""

from typing import Any

from threadline.errors import InvalidField
from threadline.providers.keys import TEAM_FIELDS

JsonDict = dict[str, Any]

MAX_FIELDS = 20
MAX_VALUE = 16_384
SERVICE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "sms": None,
    "athena": ("api_key", "source_id", "department_id", "client_id", "client_secret"),
    "google_docs": None,
    "conversations": None,
    "email": None,
    "web_search": None,
}
"""Fields a service credential may carry (None: any field name). ``conversations``
(telephony: ``call_forward``), ``email`` and ``web_search`` serve the vendor
inbuilt functions of ``tools/inbuilt.py``."""
VENDORS: dict[str, tuple[str, ...] | None] = {**TEAM_FIELDS, **SERVICE_FIELDS}
ALIASES = {
    "azure": "azure_openai",
    "gemini": "google",
    "ehr": "athena",
    "google_workspace": "google_docs",
}
_REQUIRED = {
    "openai": ("api_key",),
    "azure_openai": ("api_key",),
    "anthropic": ("api_key",),
    "google": ("api_key",),
    "custom": ("api_key",),
    "athena": ("api_key",),
}
_FIELD_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def invalid(field: str, message: str, kind: str = "value_error") -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": kind}],
    )


def vendor_name(raw: str) -> str:
    """The canonical vendor name; 422 (field ``vendor``) for an unknown one."""
    name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if name not in VENDORS:
        known = ", ".join(sorted(VENDORS))
        raise invalid("vendor", f"unknown vendor {raw!r}; use one of {known}")
    return name


def _unwrap(raw: Any) -> tuple[JsonDict, str]:
    """The fields object of a body (``{"credentials": {...}}`` or flat)."""
    if not isinstance(raw, dict):
        raise invalid("body", "a credential must be a JSON object", "dict_type")
    if "credentials" not in raw:
        return {k: v for k, v in raw.items() if k != "description"}, ""
    extra = set(raw) - {"credentials", "description"}
    if extra:
        name = sorted(extra)[0]
        raise invalid(name, "not allowed next to credentials", "extra_forbidden")
    inner = raw["credentials"]
    if not isinstance(inner, dict):
        raise invalid("credentials", "must be a JSON object", "dict_type")
    return inner, "credentials."


def _text_value(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(field, "must be a string", "string_type")
    text = str(value)
    if len(text) > MAX_VALUE:
        raise invalid(field, f"at most {MAX_VALUE} characters")
    return text


def _check_complete(vendor: str, fields: dict[str, str], prefix: str) -> None:
    for name in _REQUIRED.get(vendor, ()):
        if name not in fields:
            raise invalid(f"{prefix}{name}", "required", "missing")
    if vendor == "bedrock" and not (
        "api_key" in fields
        or ("aws_access_key_id" in fields and "aws_secret_access_key" in fields)
    ):
        raise invalid(
            f"{prefix}api_key",
            "bedrock needs api_key or aws_access_key_id and aws_secret_access_key",
            "missing",
        )
    if not fields or len(fields) > MAX_FIELDS:
        where = prefix.rstrip(".") or "body"
        raise invalid(where, f"give between 1 and {MAX_FIELDS} credential fields")


def credential_fields(vendor: str, raw: Any) -> dict[str, str]:
    """The credential's fields from a request body (validated, values as text)."""
    items, prefix = _unwrap(raw)
    allowed = VENDORS[vendor]
    fields: dict[str, str] = {}
    for name, value in items.items():
        field = f"{prefix}{name}"
        if not name or set(name) - _FIELD_NAME_CHARS:
            raise invalid(field, "field names are lower-case identifiers")
        if allowed is not None and name not in allowed:
            raise invalid(
                field,
                f"{vendor} credentials take {', '.join(allowed)}",
                "extra_forbidden",
            )
        if value is not None and value != "":
            fields[name] = _text_value(field, value)
    _check_complete(vendor, fields, prefix)
    return fields


def description(raw: Any) -> str | None:
    value = raw.get("description") if isinstance(raw, dict) else None
    if value is not None and not isinstance(value, str):
        raise invalid("description", "must be a string", "string_type")
    return value
