"""Chunking, query terms, rank fusion, text extraction and the embeddings wire."""

import itertools

import httpx
import pytest

from tests.fakes.openai_server import running_openai_server
from tests.fakes.pdf import make_pdf
from threadline.providers.base import LLMError
from threadline.providers.embeddings import Embeddings
from threadline.providers.fake_server import fake_embedding
from threadline.service.knowledge.chunking import chunk_segments, spans
from threadline.service.knowledge.extract import (
    ExtractError,
    html_text,
    kind_of_content_type,
    segments,
)
from threadline.service.knowledge.search import fuse, terms


def test_chunks_overlap_start_at_words_and_cover_the_whole_text():
    text = " ".join(f"word{i}" for i in range(400))
    cuts = spans(text, 200, 50)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(text)
    for (s1, e1), (s2, _) in itertools.pairwise(cuts):
        assert s2 < e1, "consecutive chunks overlap"
        assert e1 - s2 <= 60
        assert text[s2 - 1] == " ", "a chunk starts at a word"
        assert e1 - s1 <= 200
    covered: set[int] = set()
    for s, e in cuts:
        covered.update(range(s, e))
    assert covered == set(range(len(text)))


def test_chunks_prefer_paragraph_breaks_and_keep_their_segment():
    text = "First paragraph about cats.\n\nSecond paragraph about dogs and more dogs."
    pieces = chunk_segments([(text, {"page": 3})], 50, 0)
    assert pieces[0].text == "First paragraph about cats."
    assert pieces[0].segment == {"page": 3}
    assert (pieces[0].start, pieces[0].end) == (0, 27)
    assert all(len(p.text) <= 50 for p in pieces)
    assert chunk_segments([("   ", {})], 50, 0) == []


def test_query_terms_drop_stop_words_and_repeats():
    assert terms("What is the copay for the ER? copay!") == ["copay", "er"]
    assert terms("") == []


def test_rank_fusion_rewards_agreement():
    fused = fuse([[1, 2, 3], [3, 1]])
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_extraction_by_kind():
    assert html_text("<p>a<b>b</b></p><script>x()</script><div>c</div>") == "ab\nc"
    assert segments("markdown", b"# T\n\nbody") == [("# T\n\nbody", {})]
    assert segments("pdf", make_pdf([["one"], ["two"]]))[1] == ("two\n", {"page": 2})
    with pytest.raises(ExtractError, match="UTF-8"):
        segments("text", b"\xff")
    with pytest.raises(ExtractError, match="no text"):
        segments("html", b"<script>only()</script>")
    with pytest.raises(ExtractError, match="PDF"):
        segments("pdf", b"%PDF-1.4 nothing")
    assert kind_of_content_type("application/pdf") == "pdf"
    assert kind_of_content_type("text/html; charset=utf-8") == "html"
    assert kind_of_content_type(None) == "text"


def _dot(u: list[float], v: list[float]) -> float:
    return sum(x * y for x, y in zip(u, v, strict=True))


def test_fake_embeddings_are_deterministic_and_near_for_shared_words():
    a, b, c = (fake_embedding(t) for t in ("red apples", "apples are red", "blue sky"))
    assert a == fake_embedding("red apples")
    assert sum(x * x for x in a) == pytest.approx(1.0)
    assert _dot(a, b) > _dot(a, c)


async def test_embeddings_go_over_the_openai_wire_with_the_teams_key():
    async with running_openai_server() as server:
        client = Embeddings(
            model="text-embedding-3-small",
            base_url=server.base_url,
            server_key="sk-server",
        )
        got = await client.embed(["one", "two words"], team_key="sk-team")
        [request] = server.requests
        assert request.path == "/v1/embeddings"
        assert request.headers["authorization"] == "Bearer sk-team"
        assert request.body == {
            "model": "text-embedding-3-small",
            "input": ["one", "two words"],
        }
        assert got.vectors == [fake_embedding("one"), fake_embedding("two words")]
        assert got.input_tokens == 3 and got.requests == 1
        assert got.cost_usd is not None and got.cost_usd > 0
        await client.embed(["x"])
        assert server.requests[-1].headers["authorization"] == "Bearer sk-server"
        override = Embeddings(
            model="m", base_url=server.base_url, server_key="", override=True
        )
        await override.embed(["x"], team_key="sk-team")
        assert "authorization" not in server.requests[-1].headers


async def test_an_embeddings_failure_is_an_llm_error_without_the_key():
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="bad key sk-secret-1")

    client = Embeddings(
        model="m",
        base_url="https://api.example/v1",
        server_key="sk-secret-1",
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(LLMError) as caught:
        await client.embed(["x"])
    assert "401" in caught.value.message and "sk-secret-1" not in caught.value.message
    with pytest.raises(LLMError, match="OpenAI key"):
        await Embeddings(model="m").embed(["x"])
