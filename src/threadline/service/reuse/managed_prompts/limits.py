"""What a managed prompt may hold: its name, text and description, and the
operator's ceilings (``PromptLimits``)."""

import re
from dataclasses import dataclass
from typing import Any

from threadline.errors import InvalidField
from threadline.providers.managed_prompts import names_in

JsonDict = dict[str, Any]
NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,100}$"
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class PromptLimits:
    """The operator's ceilings (``THREADLINE_MANAGED_PROMPT*``)."""

    max_chars: int = 100_000
    max_per_team: int = 500
    versions_kept: int = 20


def require_object(raw: Any) -> JsonDict:
    """A create or patch body: a JSON object of name, description and text."""
    if not isinstance(raw, dict):
        raise InvalidField("(body): a managed prompt must be a JSON object")
    unknown = sorted(set(raw) - {"name", "description", "text"})
    if unknown:
        raise InvalidField(
            f"{unknown[0]}: unknown field; a managed prompt has name, description "
            "and text"
        )
    return raw


def check_name(name: Any, field: str = "name") -> str:
    """``name`` when it is a valid managed prompt name (``NAME_PATTERN``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidField(
            f"{field}: a managed prompt name is 1 to 100 letters, digits, '_', "
            "'.' or '-'"
        )
    return name


def check_text(raw: Any, limits: PromptLimits) -> str:
    """A prompt text: a string within the limit, referring to no other prompt."""
    if not isinstance(raw, str):
        raise InvalidField("text: must be a string")
    if len(raw) > limits.max_chars:
        raise InvalidField(
            f"text: {len(raw)} characters is over this server's limit of "
            f"{limits.max_chars} (THREADLINE_MANAGED_PROMPT_MAX_CHARS)",
            code="over_limit",
        )
    if names_in(raw):
        raise InvalidField(
            "text: a managed prompt cannot refer to another managed prompt"
        )
    return raw


def check_description(raw: Any) -> str | None:
    """A description: a string of at most 2000 characters, or ``None``."""
    if raw is not None and not isinstance(raw, str):
        raise InvalidField("description: must be a string or null")
    if isinstance(raw, str) and len(raw) > 2_000:
        raise InvalidField("description: at most 2000 characters")
    return raw
