"""Who is calling: the team and user an API key is bound to."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal; every read and write is scoped to its team."""

    team_id: str
    user_id: str
    key_id: str | None = None
