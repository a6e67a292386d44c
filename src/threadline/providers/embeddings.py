"""Embeddings over the OpenAI-compatible ``POST {base}/embeddings`` wire.

Knowledge bases embed their chunks and queries through :class:`Embeddings`, built
by the entry point from the settings (``THREADLINE_EMBEDDINGS_MODEL``; the endpoint
is ``THREADLINE_LLM_OVERRIDE_URL`` when set, else ``THREADLINE_EMBEDDINGS_URL``,
else OpenAI). Keys follow the LLM rules (``providers.keys``): the override
endpoint gets the override key (or none); otherwise the team's ``openai``
credential, else the server's ``THREADLINE_OPENAI_API_KEY``. The endpoint is the
operator's, never a tenant's, so no SSRF guard stands in front of it.

Every call returns its usage (input tokens) and cost (``genai-prices``; None for a
model not in the table), which the caller records.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import genai_prices
import httpx

from threadline.providers.base import LLMError

OPENAI_BASE_URL = "https://api.openai.com/v1"
BATCH = 64
"""Texts per request."""


@dataclass(frozen=True)
class Embedded:
    """Vectors in input order, and what they cost."""

    vectors: list[list[float]]
    model: str
    input_tokens: int = 0
    requests: int = 0
    cost_usd: float | None = None


def price(model: str, tokens: int) -> float | None:
    """USD cost of ``tokens`` input tokens of ``model`` (None: not in the table)."""
    usage = genai_prices.Usage(input_tokens=tokens)
    for provider in ("openai", None):  # OpenAI's names first, then any provider
        try:
            found = genai_prices.calc_price(usage, model, provider_id=provider)
        except LookupError:
            continue
        return float(found.total_price)
    return None


@dataclass
class Embeddings:
    """An OpenAI-compatible embeddings endpoint and model."""

    model: str
    base_url: str = OPENAI_BASE_URL
    server_key: str = ""
    override: bool = False
    """The endpoint is ``THREADLINE_LLM_OVERRIDE_URL``: its key only."""
    timeout_s: float = 60.0
    transport: Any = None
    """An httpx transport (tests); None: the network."""
    headers: dict[str, str] = field(default_factory=dict)

    def key_for(self, team_key: str | None) -> str:
        """The key a call sends (empty: none)."""
        if self.override:
            return self.server_key
        return team_key or self.server_key

    async def embed(
        self, texts: Sequence[str], *, team_key: str | None = None
    ) -> Embedded:
        """Embed ``texts`` (in batches); raise ``LLMError`` on any failure."""
        key = self.key_for(team_key)
        if not key and not self.override and self.base_url == OPENAI_BASE_URL:
            raise LLMError(
                "embeddings need an OpenAI key: add the team's openai credential "
                "or set THREADLINE_OPENAI_API_KEY",
                code="llm_not_configured",
            )
        headers = {**self.headers}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        vectors: list[list[float]] = []
        tokens = requests = 0
        url = self.base_url.rstrip("/") + "/embeddings"
        async with httpx.AsyncClient(
            transport=self.transport, timeout=self.timeout_s
        ) as client:
            for start in range(0, len(texts), BATCH):
                batch = list(texts[start : start + BATCH])
                body = {"model": self.model, "input": batch}
                got = await _post(client, url, body, headers, key)
                data = sorted(got.get("data") or [], key=lambda d: d.get("index", 0))
                if len(data) != len(batch):
                    raise LLMError(
                        f"the embeddings endpoint returned {len(data)} vectors "
                        f"for {len(batch)} texts",
                        code="llm_error",
                    )
                vectors.extend(
                    [float(x) for x in d.get("embedding") or []] for d in data
                )
                usage = got.get("usage") or {}
                tokens += int(
                    usage.get("prompt_tokens") or usage.get("total_tokens") or 0
                )
                requests += 1
        return Embedded(
            vectors, self.model, tokens, requests, price(self.model, tokens)
        )


async def _post(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str], key: str
) -> dict[str, Any]:
    try:
        response = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise LLMError(
            f"the embeddings endpoint failed: {type(exc).__name__}", code="llm_error"
        ) from None
    if response.status_code >= 400:
        message = response.text[:300]
        if key:
            message = message.replace(key, "[REDACTED]")
        raise LLMError(
            f"the embeddings endpoint answered {response.status_code}: {message}",
            code="llm_error",
        )
    try:
        got = response.json()
    except ValueError:
        raise LLMError(
            "the embeddings endpoint answered with no JSON", code="llm_error"
        ) from None
    if not isinstance(got, dict):
        raise LLMError(
            "the embeddings endpoint answered with no object", code="llm_error"
        )
    return got
