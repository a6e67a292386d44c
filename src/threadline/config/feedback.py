"""Reviewer comments and ratings (stored shapes use camelCase audit fields)."""

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field, field_validator

from threadline.config.base import WireModel
from threadline.ids import new_logical_id


def _now() -> datetime:
    return datetime.now(UTC)


class CommentConfig(WireModel):
    """A reviewer comment on a run, turn or event."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("comment"))
    content: str | None = None
    createdBy: str | None = None  # camelCase on the wire
    updatedBy: str | None = None
    createdAt: datetime = Field(default_factory=_now)
    updatedAt: datetime = Field(default_factory=_now)


class RatingValue(StrEnum):
    """A reviewer's quality judgement."""

    DOWN = "down"
    UP = "up"
    STRONG_UP = "strong_up"


RATING_SCORES: dict[RatingValue, int] = {
    RatingValue.DOWN: -1,
    RatingValue.UP: 1,
    RatingValue.STRONG_UP: 2,
}


class RatingConfig(WireModel):
    """One reviewer's rating of one target (at most one per user)."""

    logical_id: str | None = Field(default_factory=lambda: new_logical_id("rating"))
    value: RatingValue
    createdBy: str | None = None  # camelCase on the wire
    updatedBy: str | None = None
    createdAt: datetime = Field(default_factory=_now)
    updatedAt: datetime = Field(default_factory=_now)


MAX_COMMENT_LENGTH = 5000


class CommentRequest(WireModel):
    """Body of a "leave a comment" request; content is trimmed and non-blank."""

    content: str = Field(max_length=MAX_COMMENT_LENGTH)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        trimmed = value.strip()
        if not trimmed:
            raise ValueError("Comment content cannot be blank.")
        return trimmed


class RatingRequest(WireModel):
    """Body of a "set my rating" request."""

    value: RatingValue
