"""The keyless fake model behind ``threadline fake-llm``."""

import json

import httpx

from threadline.providers.fake_server import (
    FakeOpenAIServer,
    auto_reply,
    running_openai_server,
)


async def test_the_fake_model_echoes_the_user_and_fills_schemas():
    async with (
        running_openai_server(auto_reply()) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        plain = await client.post(
            "/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        )
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer"},
                "kind": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
        }
        structured = await client.post(
            "/chat/completions",
            json={
                "model": "m",
                "messages": [],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": schema},
                },
            },
        )
    assert "hello" in plain.json()["choices"][0]["message"]["content"]
    content = json.loads(structured.json()["choices"][0]["message"]["content"])
    assert content == {"name": "sample", "age": 1, "kind": "a", "tags": ["sample"]}
    assert plain.json()["usage"]["total_tokens"] > 0


async def _three_requests(server: FakeOpenAIServer) -> list[str]:
    """Three chat requests on one client; the ``Connection`` header of each answer."""
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            said = []
            for text in ("one", "two", "three"):
                answer = await client.post(
                    "/chat/completions",
                    json={
                        "model": "m",
                        "messages": [{"role": "user", "content": text}],
                    },
                )
                assert text in answer.json()["choices"][0]["message"]["content"]
                said.append(answer.headers["connection"])
            return said
    finally:
        await server.stop()


async def test_keep_alive_serves_many_requests_on_one_connection():
    kept = FakeOpenAIServer(auto_reply(), keep_alive=True)
    assert await _three_requests(kept) == ["keep-alive"] * 3
    assert await _three_requests(FakeOpenAIServer(auto_reply())) == ["close"] * 3
