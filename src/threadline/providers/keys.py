"""Which key, endpoint and model serve an LLM config; builds its pydantic-ai client.

``ServerKeys`` holds what the server brings (``THREADLINE_*`` settings): a fallback
key per provider, the Azure endpoint, the AWS region, the default model for
``global_default_llm`` and the override endpoint. ``build_client(config, keys)``
turns one single (non-group) LLM config into a ``PydanticAILLM``:

===================== ===================================== ===========================
config ``type``       endpoint                              key (user / fallback)
===================== ===================================== ===========================
``openai_llm``        config ``base_url``, else OpenAI      ``api_key`` /
                                                            ``THREADLINE_OPENAI_API_KEY``
``azure_openai_llm``  config ``endpoint``, else             ``api_key`` /
                      ``THREADLINE_AZURE_OPENAI_ENDPOINT``  ``THREADLINE_AZURE_OPENAI_
                      (``api_version`` from the config)     API_KEY``
``anthropic_llm``     Anthropic                             ``api_key`` /
                                                            ``THREADLINE_ANTHROPIC_API_KEY``
``google_llm``        Gemini API                            ``api_key`` /
                                                            ``THREADLINE_GOOGLE_API_KEY``
``bedrock_llm``       config ``region``, else               ``api_key`` (bearer) or
                      ``THREADLINE_AWS_REGION``             access keys / AWS chain
``custom_llm``        config ``base_url`` (OpenAI-style)    ``api_key`` / server custom
                                                            key / none (Ollama, vLLM)
``global_default_llm`` ``THREADLINE_DEFAULT_LLM``           as the provider it names
``no_llm``            none: ``llm_not_configured``
===================== ===================================== ===========================

Key lookup order: the config's own ``api_key`` (node or workflow), then the run's
team credential for the provider (``TeamKeys``, filled in by ``with_team_key``;
the router does this per team), then the server's key. A config's own key or a
team credential makes the call a user-key call (``user_key=True``;
``extra["key_source"]`` is ``"user"`` or ``"team"``); the server's key counts as
a fallback-key call (``"fallback"``). A missing
key, endpoint, region or model raises ``LLMError`` (``llm_not_configured``) naming
the provider and the setting to fill.

Tenant URLs: a config's own ``base_url`` (openai, custom) or ``endpoint`` (azure),
or one a team credential fills in, is the tenant's choice unless it is one of the
operator's endpoints (``ServerKeys.operator_urls``: the override URL, ``endpoints``,
the Azure endpoint, the URL of ``THREADLINE_DEFAULT_LLM``). A tenant URL gets the
tenant's own key (the config's or the team credential's) and never a server key:
openai and azure configs without one raise ``llm_not_configured``, a custom one is
sent without a key. Its client connects through ``ServerKeys.guard`` (the SSRF
guard, ``tools.llm_endpoints``); without a guard, tenant URLs are refused
(``llm_address_refused``).

Override: with ``override_url`` (``THREADLINE_LLM_OVERRIDE_URL``) every config,
whatever its type or key, goes to that OpenAI-compatible endpoint with
``override_model`` (else the config's ``model``, else ``"default"``) and the
``override_api_key``. Accounting records such calls with provider ``"override"``
and ``user_key=False`` (``extra["key_source"] == "override"``, and
``extra["configured_provider"]`` keeps what the config asked for).

SDK clients are built with their own retries off: ``PydanticAILLM`` retries (one
accounting record per call). ``endpoints`` points a provider at another base URL
(the fake provider server in tests, a proxy in production).
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from threadline.providers.base import LLMError
from threadline.providers.pai_retries import DEFAULT_MAX_RETRIES, Backoff

if TYPE_CHECKING:
    from threadline.settings import Settings

JsonDict = dict[str, Any]
DEFAULT_TIMEOUT_S = 60.0
AZURE_API_VERSION = "2024-10-21"
OVERRIDE_HINT = (
    "or set THREADLINE_LLM_OVERRIDE_URL (and THREADLINE_LLM_OVERRIDE_MODEL) to send "
    "every call to one OpenAI-compatible endpoint"
)
PROVIDER_TYPES = {
    "openai": "openai_llm",
    "azure_openai": "azure_openai_llm",
    "azure": "azure_openai_llm",
    "anthropic": "anthropic_llm",
    "google": "google_llm",
    "gemini": "google_llm",
    "google-gla": "google_llm",
    "bedrock": "bedrock_llm",
    "custom": "custom_llm",
}
_KEY_SETTING = {
    "openai": "THREADLINE_OPENAI_API_KEY",
    "azure_openai": "THREADLINE_AZURE_OPENAI_API_KEY",
    "anthropic": "THREADLINE_ANTHROPIC_API_KEY",
    "google": "THREADLINE_GOOGLE_API_KEY",
}
_NODE_PARAMS = ("temperature", "max_tokens", "seed", "request_timeout_ms")


def secret(value: Any) -> str:
    """The plain text of a key (``SecretStr`` or ``str``); ``""`` for None."""
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


class EndpointGuard(Protocol):
    """Builds HTTP clients that connect to tenant URLs only through the SSRF guard
    (``threadline.tools.llm_endpoints.EndpointGuard``)."""

    def http_client(self, *, timeout: float, verify: bool = True) -> Any:
        """An ``httpx2.AsyncClient`` whose connections are checked."""
        ...


def normal_url(url: str) -> str:
    """``url`` compared as an endpoint: scheme and host lower-case, default port
    and trailing slashes dropped (``""`` when it is not a URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if not parts.scheme or not parts.hostname:
        return ""
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    shown = "" if port in (None, default) else f":{port}"
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}{shown}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class ServerKeys:
    """What the server brings to LLM calls (keys are fallbacks for configs)."""

    api_keys: dict[str, str] = field(default_factory=dict)
    """Fallback key per provider: ``openai``, ``azure_openai``, ``anthropic``,
    ``google``, ``custom``; ``override`` is the override endpoint's key."""
    azure_openai_endpoint: str | None = None
    aws_region: str | None = None
    default_llm: str | None = None
    """``THREADLINE_DEFAULT_LLM``: ``provider:model`` or an LLM config as JSON."""
    override_url: str | None = None
    override_model: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    """Base URL per provider (``anthropic``, ``google``, ``bedrock``, ``openai``)."""
    backoff: Backoff = field(default_factory=Backoff)
    guard: EndpointGuard | None = None
    """Connects to tenant URLs (None: tenant URLs are refused)."""

    def operator_urls(self) -> frozenset[str]:
        """The endpoints the operator configured (``normal_url`` forms)."""
        urls = [self.override_url, self.azure_openai_endpoint, *self.endpoints.values()]
        text = (self.default_llm or "").strip()
        if text.startswith("{"):
            try:
                default = json.loads(text)
            except ValueError:
                default = None
            if isinstance(default, dict):
                urls += [default.get("base_url"), default.get("endpoint")]
        found = (normal_url(u) for u in urls if isinstance(u, str) and u)
        return frozenset(u for u in found if u)

    def is_tenant_url(self, url: Any) -> bool:
        """True for a non-empty URL the operator did not configure."""
        if not isinstance(url, str) or not url.strip():
            return False
        return normal_url(url) not in self.operator_urls()

    @classmethod
    def from_settings(cls, settings: "Settings", **overrides: Any) -> "ServerKeys":
        """The server's keys from ``Settings`` (empty values left out)."""
        named = {
            "openai": settings.openai_api_key,
            "azure_openai": settings.azure_openai_api_key,
            "anthropic": settings.anthropic_api_key,
            "google": settings.google_api_key,
        }
        values: JsonDict = {
            "api_keys": {k: secret(v) for k, v in named.items() if secret(v)},
            "azure_openai_endpoint": settings.azure_openai_endpoint,
            "aws_region": settings.aws_region,
            "default_llm": settings.default_llm,
            "override_url": settings.llm_override_url,
            "override_model": settings.llm_override_model,
        }
        values.update(overrides)
        return cls(**values)


def not_configured(message: str) -> LLMError:
    """The ``llm_not_configured`` error (no stack trace reaches the user)."""
    return LLMError(message, code="llm_not_configured")


def parse_default_llm(value: str | None) -> JsonDict:
    """``THREADLINE_DEFAULT_LLM`` as a config: ``provider:model`` or JSON."""
    text = (value or "").strip()
    if not text:
        raise not_configured(
            "no LLM is configured: the node uses the default LLM "
            "(llms_config type 'global_default_llm') and the server has none; set "
            "THREADLINE_DEFAULT_LLM (e.g. 'openai:gpt-4o-mini'), give the workflow "
            "an llms_config, " + OVERRIDE_HINT
        )
    if text.startswith("{"):
        try:
            config = json.loads(text)
        except ValueError as exc:
            raise not_configured(
                f"THREADLINE_DEFAULT_LLM is not valid JSON: {exc}"
            ) from exc
        if not isinstance(config, dict) or not config.get("type"):
            raise not_configured("THREADLINE_DEFAULT_LLM JSON needs a 'type'")
        return config
    provider, _, model = text.partition(":")
    kind = PROVIDER_TYPES.get(provider.strip().lower())
    if kind is None or not model.strip():
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise not_configured(
            f"THREADLINE_DEFAULT_LLM={text!r} is not 'provider:model' with a provider "
            f"among {known}"
        )
    return {"type": kind, "model": model.strip()}


def resolve_default(config: JsonDict, keys: ServerKeys) -> JsonDict:
    """A ``global_default_llm`` config as the server default, keeping node params.

    Team defaults (a saved LLM config per team) are not looked up here: the engine
    resolves a workflow's config before the call; a team hook needs the team id on
    ``ChatRequest`` first.
    """
    resolved = parse_default_llm(keys.default_llm)
    for name in _NODE_PARAMS:
        if config.get(name) is not None:
            resolved[name] = config[name]
    for name in ("streaming", "model_kwargs"):
        if config.get(name):
            resolved[name] = config[name]
    if "max_retries" in config and "max_retries" not in resolved:
        resolved["max_retries"] = config["max_retries"]
    return resolved


def client_limits(config: JsonDict) -> tuple[float, int]:
    """(timeout in seconds, max retries) of a config."""
    timeout_ms = config.get("request_timeout_ms")
    timeout = timeout_ms / 1000.0 if timeout_ms else DEFAULT_TIMEOUT_S
    retries = config.get("max_retries")
    return timeout, DEFAULT_MAX_RETRIES if retries is None else int(retries)


LLM_VENDORS = {
    "openai_llm": "openai",
    "azure_openai_llm": "azure_openai",
    "anthropic_llm": "anthropic",
    "google_llm": "google",
    "bedrock_llm": "bedrock",
    "custom_llm": "custom",
}
"""The team-credential vendor that serves each single LLM config type."""
TEAM_FIELDS: dict[str, tuple[str, ...]] = {
    "openai": ("api_key", "organization", "base_url"),
    "azure_openai": ("api_key", "endpoint", "api_version"),
    "anthropic": ("api_key",),
    "google": ("api_key",),
    "bedrock": ("api_key", "aws_access_key_id", "aws_secret_access_key", "region"),
    "custom": ("api_key",),
}
"""The config fields a team credential may fill, per LLM vendor (only empty ones)."""


@dataclass(frozen=True)
class TeamKeys:
    """A team's stored vendor credentials, decrypted, for one turn."""

    team_id: str = ""
    credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """``{vendor: {field: value}}`` (``openai: {api_key: ...}``, ``sms: {...}``)."""

    def fingerprint(self) -> str:
        """A short digest of the credentials (cache keys; never the values)."""
        text = json.dumps(
            {"team": self.team_id, "credentials": self.credentials}, sort_keys=True
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]

    def secret_values(self) -> tuple[str, ...]:
        """Every credential value (to redact)."""
        return tuple(
            str(v) for cred in self.credentials.values() for v in cred.values() if v
        )


def has_own_key(config: JsonDict) -> bool:
    """The config carries a key (``api_key``, or Bedrock access keys)."""
    if secret(config.get("api_key")):
        return True
    return config.get("type") == "bedrock_llm" and bool(
        config.get("aws_access_key_id") and secret(config.get("aws_secret_access_key"))
    )


def with_team_key(config: JsonDict, team: TeamKeys) -> JsonDict | None:
    """``config`` completed from the team's credential for its provider.

    None when the config has its own key, is not a single provider config, or the
    team has no usable credential for that provider. Only empty fields are filled:
    the node's own endpoint, region or organization win over the team's.
    """
    vendor = LLM_VENDORS.get(str(config.get("type") or ""))
    if vendor is None or has_own_key(config):
        return None
    credential = team.credentials.get(vendor)
    if not credential:
        return None
    filled = dict(config)
    for name in TEAM_FIELDS[vendor]:
        value = credential.get(name)
        if value and not filled.get(name):
            filled[name] = value
    return filled if has_own_key(filled) else None
