"""Builds the pydantic-ai client that serves one LLM config (see ``keys``).

One builder per config ``type``; ``build_client(config, keys)`` dispatches. The key,
endpoint and accounting rules are described in ``providers.keys``. The builders are
``openai_builders``' (OpenAI wire) and ``native_builders``' (Anthropic, Google,
Bedrock), on the parts every builder shares (``client_parts``).
"""

from typing import Any

from threadline.providers.keys import (
    OVERRIDE_HINT,
    ServerKeys,
    not_configured,
    resolve_default,
)
from threadline.providers.native_builders import (
    build_anthropic,
    build_bedrock,
    build_google,
)
from threadline.providers.openai_builders import (
    build_azure,
    build_custom,
    build_openai,
    build_override,
    warm_up,
)
from threadline.providers.pai import PydanticAILLM

__all__ = ["build_client", "warm_up"]

JsonDict = dict[str, Any]


def build_client(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    """The client serving one single LLM config (see the module docstring)."""
    if keys.override_url:
        return build_override(config, keys)
    kind = str(config.get("type") or "no_llm")
    if kind == "global_default_llm":
        config = resolve_default(config, keys)
        kind = str(config.get("type"))
        if kind == "global_default_llm":
            raise not_configured("THREADLINE_DEFAULT_LLM may not be global_default_llm")
    if kind == "no_llm":
        raise not_configured(
            "no LLM is configured: this node has no LLM (llms_config type 'no_llm'); "
            "set the node's or the workflow's llms_config, " + OVERRIDE_HINT
        )
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise not_configured(
            f"LLM config type {kind!r} (provider {config.get('provider')!r}) is not "
            "known: use openai_llm, azure_openai_llm, anthropic_llm, google_llm, "
            "bedrock_llm or custom_llm, " + OVERRIDE_HINT
        )
    return builder(config, keys)


_BUILDERS = {
    "openai_llm": build_openai,
    "azure_openai_llm": build_azure,
    "anthropic_llm": build_anthropic,
    "google_llm": build_google,
    "bedrock_llm": build_bedrock,
    "custom_llm": build_custom,
}
