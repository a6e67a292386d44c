"""Pick the provider client for an LLM config.

Entry points:

- ``build_llm(config, ...)`` builds the client for one config (wire JSON): a
  ``PydanticAILLM`` over the provider's SDK (see ``keys`` for the per-type rules:
  keys, endpoints, override, default model, errors);
- ``ConfigurableLLM`` is an ``LLM`` that dispatches every request by its
  ``request.llm_config``, building (and caching) clients through ``build_llm``. This
  is what the service puts into ``Ports.llm``: executors pass the resolved config
  with each request and never pick providers themselves.

Groups: without a ``group_factory``, ``llm_group`` uses its first member and
``llm_group_with_backchannel`` the first member of ``main_llm_config``
(``primary_config``). With ``ConfigurableLLM(group_factory=...)`` a group config is
handed to ``group_factory(config, client_for)``, which returns the ``LLM`` serving
the group; it gets the request with the group config intact and uses
``client_for(member)`` for each member. ``client_for(config)`` keeps working for
single configs either way.

Team credentials: ``ConfigurableLLM.for_team(team_keys)`` is a view of the same
router (sharing its client cache) that completes a config without its own key
from the team's stored credential for that provider (``keys.with_team_key``)
before the server key is tried; such clients report ``user_key=True`` with
``extra["key_source"] == "team"``. ``TeamLLM(router, load)`` loads the team's
credentials once, on its first call, and serves every request through that view;
the run service puts one per turn into ``Ports.llm``. The override endpoint
(``THREADLINE_LLM_OVERRIDE_URL``) wins over team credentials, as it does over
node keys.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from threadline.providers.base import LLM, ChatRequest, ChatResponse
from threadline.providers.builders import build_client
from threadline.providers.keys import (
    ServerKeys,
    TeamKeys,
    client_limits,
    resolve_default,
    secret,
    with_team_key,
)
from threadline.providers.pai import PydanticAILLM

JsonDict = dict[str, Any]
GROUP_TYPES = frozenset({"llm_group", "llm_group_with_backchannel"})
GroupFactory = Callable[[JsonDict, Callable[[JsonDict | None], LLM]], LLM]
"""``(group_config, client_for) -> LLM`` serving an LLM group."""
# Per-request parameters: they travel with each request, not in the client.
_REQUEST_ONLY = frozenset(
    {
        "temperature",
        "max_tokens",
        "seed",
        "streaming",
        "model_kwargs",
        "max_parse_retries",
        "truncated_max_recent_messages",
        "do_not_split_sentences",
        "logical_id",
        "named_llm_config_id",
        "named_llm_config_name",
    }
)


def primary_config(llm_config: JsonDict | None) -> JsonDict:
    """The single LLM config a (possibly grouped) config resolves to."""
    config = llm_config or {}
    for _ in range(4):  # groups nest at most twice
        kind = config.get("type")
        if kind == "llm_group_with_backchannel":
            config = config.get("main_llm_config") or {}
        elif kind == "llm_group":
            members = config.get("llms") or []
            config = members[0] if members else {}
        else:
            break
    return config


def build_llm(
    llm_config: JsonDict | None,
    *,
    override_url: str | None = None,
    override_model: str | None = None,
    api_keys: dict[str, str] | None = None,
    keys: ServerKeys | None = None,
) -> PydanticAILLM:
    """The client for ``llm_config`` (groups are unwrapped with ``primary_config``).

    ``keys`` carries the server's keys and endpoints; ``override_url``,
    ``override_model`` and ``api_keys`` (merged over ``keys.api_keys``) are
    shortcuts for the same fields.
    """
    base = keys or ServerKeys()
    merged = {**base.api_keys, **(api_keys or {})}
    base = replace(
        base,
        api_keys=merged,
        override_url=override_url or base.override_url,
        override_model=override_model or base.override_model,
    )
    return build_client(primary_config(llm_config), base)


def _cache_key(config: JsonDict) -> str:
    client_part = {k: v for k, v in config.items() if k not in _REQUEST_ONLY}
    client_part["_limits"] = client_limits(config)
    return json.dumps(client_part, sort_keys=True, default=secret)


class ConfigurableLLM:
    """An ``LLM`` choosing its client per request from ``request.llm_config``.

    Clients are cached by their client-side settings (type, model, endpoint, key,
    retries, timeout), so equal configs share one; per-request parameters
    (``temperature``, ``max_tokens``, ``seed``, ``streaming``, ``model_kwargs``)
    are read from each request's config.
    """

    def __init__(
        self,
        *,
        override_url: str | None = None,
        override_model: str | None = None,
        api_keys: dict[str, str] | None = None,
        keys: ServerKeys | None = None,
        group_factory: GroupFactory | None = None,
    ) -> None:
        base = keys or ServerKeys()
        self.keys = replace(
            base,
            api_keys={**base.api_keys, **(api_keys or {})},
            override_url=override_url or base.override_url,
            override_model=override_model or base.override_model,
        )
        self.group_factory = group_factory
        self.team: TeamKeys | None = None
        self._clients: dict[str, LLM] = {}

    @property
    def override_url(self) -> str | None:
        return self.keys.override_url

    @property
    def override_model(self) -> str | None:
        return self.keys.override_model

    def for_team(self, team: TeamKeys) -> "ConfigurableLLM":
        """A view using ``team``'s credentials when a config has no key."""
        view = ConfigurableLLM(keys=self.keys, group_factory=self.group_factory)
        view.team = team if team.credentials else None
        view._clients = self._clients
        return view

    def _team_config(self, config: JsonDict) -> JsonDict | None:
        if self.team is None or self.override_url:
            return None
        if config.get("type") == "global_default_llm":
            config = resolve_default(config, self.keys)
        return with_team_key(config, self.team)

    def client_for(self, llm_config: JsonDict | None) -> LLM:
        """The (cached) client that serves ``llm_config``."""
        config = llm_config or {}
        is_group = config.get("type") in GROUP_TYPES
        grouped = is_group and self.group_factory is not None
        if not grouped:
            config = primary_config(config)
        team_config = None if grouped else self._team_config(config)
        if team_config is not None:
            config = team_config
            key = "team\x1f" + _cache_key(config)
        elif grouped and self.team is not None:
            # The group's members are built through this view's ``client_for``.
            key = f"group\x1f{self.team.fingerprint()}\x1f" + _cache_key(config)
        else:
            key = _cache_key(config)
        client = self._clients.get(key)
        if client is None:
            if grouped and self.group_factory is not None:
                client = self.group_factory(config, self.client_for)
            else:
                built = build_client(config, self.keys)
                if team_config is not None:
                    built.extra["key_source"] = "team"
                client = built
            self._clients[key] = client
        return client

    async def chat(self, request: ChatRequest) -> ChatResponse:
        config = request.llm_config or {}
        if config.get("type") in GROUP_TYPES and self.group_factory is not None:
            return await self.client_for(config).chat(request)
        config = primary_config(config)
        if config.get("type") == "global_default_llm" and not self.override_url:
            config = resolve_default(config, self.keys)
        client = self.client_for(config)
        return await client.chat(replace(request, llm_config=config))


class TeamLLM:
    """An ``LLM`` serving one team: ``router.for_team`` with lazily loaded keys.

    ``load`` is awaited once, on the first call (a turn that makes no LLM call
    reads no credentials). Any other ``LLM`` (a scripted fake) is used as is.
    """

    def __init__(self, base: LLM, load: Callable[[], Awaitable[TeamKeys]]) -> None:
        self.base = base
        self.load = load
        self._view: LLM | None = None

    async def _resolved(self) -> LLM:
        if self._view is None:
            view = self.base
            if isinstance(self.base, ConfigurableLLM):
                team = await self.load()
                if team.credentials:
                    view = self.base.for_team(team)
            self._view = view
        return self._view

    async def chat(self, request: ChatRequest) -> ChatResponse:
        return await (await self._resolved()).chat(request)
