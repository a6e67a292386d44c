"""Save-time SSRF check of the LLM URLs a tenant writes into configs.

The URLs a tenant chooses for an LLM (``base_url`` of ``openai_llm`` and
``custom_llm``, ``endpoint`` of ``azure_openai_llm``; the same fields of a team
credential) are checked when they are saved or tested, with the guard that also
checks them when the call connects (``tools.llm_endpoints``): a URL that would be
refused then is refused now, 422 ``validation_error`` naming the field. URLs the
operator configured (``ServerKeys.operator_urls``) are not checked.

:func:`check_configs` walks any JSON (an LLM config, a workflow, a node, a request
body) for LLM configs; :func:`check_fields` checks named fields of a flat object
(a credential).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.errors import AddressRefused, InvalidField
from threadline.providers.keys import ServerKeys, normal_url
from threadline.service.runtime import Runtime
from threadline.tools.llm_endpoints import EndpointGuard

__all__ = ["URL_FIELDS", "EndpointRules", "check_configs", "check_fields"]

JsonDict = dict[str, Any]
URL_FIELDS: dict[str, str] = {
    "openai_llm": "base_url",
    "custom_llm": "base_url",
    "azure_openai_llm": "endpoint",
}
"""The tenant-chosen URL field of each LLM config type."""
_PROVIDER_TYPES = {
    "openai": "openai_llm",
    "custom": "custom_llm",
    "azure_openai": "azure_openai_llm",
}


@dataclass(frozen=True)
class EndpointRules:
    """The guard and the operator's own endpoints (never checked)."""

    guard: EndpointGuard = field(default_factory=EndpointGuard)
    operator_urls: frozenset[str] = frozenset()

    @classmethod
    def of(cls, runtime: Runtime) -> "EndpointRules":
        """The rules of a runtime: its policy, its router's operator endpoints."""
        keys = getattr(runtime.llm, "keys", None)
        operator = keys.operator_urls() if isinstance(keys, ServerKeys) else frozenset()
        return cls(EndpointGuard(runtime.llm_policy()), operator)

    async def check(self, url: str, where: str) -> None:
        """422 naming ``where`` when the guard refuses ``url``."""
        if normal_url(url) in self.operator_urls:
            return
        try:
            await self.guard.check(url)
        except AddressRefused as exc:
            raise InvalidField(
                f"{where}: {exc.message}",
                details=[
                    {"field": where, "message": exc.message, "type": "address_refused"}
                ],
            ) from None


def _urls(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(field path, url)`` of every tenant LLM URL inside ``obj``."""
    if isinstance(obj, Mapping):
        kind = obj.get("type")
        if kind is None:
            kind = _PROVIDER_TYPES.get(str(obj.get("provider")))
        name = URL_FIELDS.get(str(kind))
        url = obj.get(name) if name else None
        if name and isinstance(url, str) and url.strip():
            yield f"{path}.{name}".lstrip("."), url
        for key, value in obj.items():
            yield from _urls(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from _urls(item, f"{path}.{index}")


async def check_configs(obj: Any, rules: EndpointRules, where: str = "") -> None:
    """Check every tenant LLM URL in ``obj``; 422 for the first refused one."""
    for path, url in _urls(obj, where):
        await rules.check(url, path)


async def check_fields(
    values: Mapping[str, Any], names: tuple[str, ...], rules: EndpointRules, where: str
) -> None:
    """Check the URL fields ``names`` of a flat object (``where`` prefixes them)."""
    for name in names:
        url = values.get(name)
        if isinstance(url, str) and url.strip():
            await rules.check(url, f"{where}{name}")
