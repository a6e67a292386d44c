"""Builders of the native-API clients: Anthropic, Google (Gemini) and Bedrock."""

from typing import Any

from threadline.providers.client_parts import key_of, model_name, wrap
from threadline.providers.keys import (
    OVERRIDE_HINT,
    ServerKeys,
    client_limits,
    not_configured,
    secret,
)
from threadline.providers.pai import PydanticAILLM

JsonDict = dict[str, Any]


def build_anthropic(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    model = model_name(config, "anthropic")
    key, user_key = key_of(config, keys, "anthropic")
    timeout, _ = client_limits(config)
    client = AsyncAnthropic(
        api_key=key,
        base_url=keys.endpoints.get("anthropic"),
        max_retries=0,
        timeout=timeout,
    )
    model_obj = AnthropicModel(
        model, provider=AnthropicProvider(anthropic_client=client)
    )
    url = str(client.base_url).rstrip("/") + "/v1/messages"
    return wrap(
        model_obj,
        config,
        keys,
        provider="anthropic",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )


def build_google(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    model = model_name(config, "google")
    key, user_key = key_of(config, keys, "google")
    # The google-genai client does not retry unless told to: ours retries.
    provider = GoogleProvider(api_key=key, base_url=keys.endpoints.get("google"))
    model_obj = GoogleModel(model, provider=provider)
    url = f"{model_obj.base_url.rstrip('/')}/v1beta/models/{model}:generateContent"
    return wrap(
        model_obj,
        config,
        keys,
        provider="google",
        user_key=user_key,
        url=url,
        secrets=(key,),
    )


def build_bedrock(config: JsonDict, keys: ServerKeys) -> PydanticAILLM:
    from pydantic_ai.models.bedrock import BedrockConverseModel
    from pydantic_ai.providers.bedrock import BedrockProvider

    model = model_name(config, "bedrock")
    region = str(config.get("region") or keys.aws_region or "")
    if not region:
        raise not_configured(
            "bedrock_llm (provider 'bedrock') has no region: fill llms_config.region "
            "or set THREADLINE_AWS_REGION, " + OVERRIDE_HINT
        )
    token = secret(config.get("api_key"))
    access = str(config.get("aws_access_key_id") or "")
    secret_key = secret(config.get("aws_secret_access_key"))
    timeout, _ = client_limits(config)
    base_url = keys.endpoints.get("bedrock")
    if token:
        provider = BedrockProvider(
            api_key=token,
            region_name=region,
            base_url=base_url,
            aws_read_timeout=timeout,
        )
    else:
        provider = BedrockProvider(
            bedrock_client=_boto_client(region, access, secret_key, base_url, timeout)
        )
    model_obj = BedrockConverseModel(model, provider=provider)
    url = f"{model_obj.base_url.rstrip('/')}/model/{model}/converse"
    return wrap(
        model_obj,
        config,
        keys,
        provider="bedrock",
        user_key=bool(token or (access and secret_key)),
        url=url,
        secrets=(token, secret_key),
    )


def _boto_client(
    region: str, access: str, secret_key: str, base_url: str | None, timeout: float
) -> Any:
    # boto3 ships no type information (no py.typed, no stubs installed).
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    session = boto3.Session(
        aws_access_key_id=access or None,
        aws_secret_access_key=secret_key or None,
        region_name=region,
    )
    config = Config(
        read_timeout=timeout,
        connect_timeout=min(timeout, 10.0),
        retries={"total_max_attempts": 1},
    )
    return session.client("bedrock-runtime", config=config, endpoint_url=base_url)
