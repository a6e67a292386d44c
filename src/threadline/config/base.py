"""Shared building blocks for the wire models: the lenient base and typed unions."""

from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
)

UNKNOWN_TAG = "__unknown__"


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are kept and dumped back unchanged."""

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, protected_namespaces=()
    )


class KeepsOnlyGiven(WireModel):
    """A model that dumps only the fields it was given (plus extras), never defaults.

    Used for "unknown type" fallbacks, so data the server does not understand
    round-trips byte-for-byte instead of gaining defaults.
    """

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        keep = set(self.model_fields_set) | set(self.model_extra or {})
        return {key: value for key, value in data.items() if key in keep}


class UnknownTyped(KeepsOnlyGiven):
    """Fallback for a ``type`` value this package does not know; keeps every field."""

    type: str


def type_tag(model: type[BaseModel]) -> str:
    """Return the ``type`` discriminator value a model declares as its default."""
    default = model.model_fields["type"].default
    if not isinstance(default, str):
        raise TypeError(f"{model.__name__}.type needs a string default")
    return default


def typed_union(
    *models: type[BaseModel],
    fallback: type[BaseModel] = UnknownTyped,
    default: str | None = None,
) -> Any:
    """Build a union discriminated by ``type`` that falls back for unknown values.

    ``default`` is the tag used when the input has no ``type`` at all (edges use
    ``direct``). An unknown or missing ``type`` validates as ``fallback``.
    """
    by_tag = {type_tag(model): model for model in models}

    def pick(value: Any) -> str:
        raw = (
            value.get("type")
            if isinstance(value, dict)
            else getattr(value, "type", None)
        )
        tag = raw if raw is not None else default
        return tag if isinstance(tag, str) and tag in by_tag else UNKNOWN_TAG

    members: list[Any] = [Annotated[model, Tag(tag)] for tag, model in by_tag.items()]
    members.append(Annotated[fallback, Tag(UNKNOWN_TAG)])
    return Annotated[Union[tuple(members)], Discriminator(pick)]  # noqa: UP007


def dump(model: BaseModel) -> dict[str, Any]:
    """Dump a model as JSON-ready data: aliases, extras kept, secrets excluded."""
    return model.model_dump(mode="json", by_alias=True)
