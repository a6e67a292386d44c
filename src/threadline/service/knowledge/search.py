"""Hybrid search over knowledge bases, and the retriever of ``knowledge_base`` tools.

A query is searched two ways and the two rankings merged by reciprocal rank
fusion (``score = sum(1 / (RRF_K + rank))``, :data:`RRF_K` = 60):

- lexical: the database's full-text search over the query's words
  (``Knowledge.lexical``: SQLite FTS5 with bm25, PostgreSQL ``tsvector`` with
  ``ts_rank``), any word matching;
- dense: the query embedded with the configured model and the nearest chunks
  embedded with the same model (``Knowledge.nearest``: sqlite-vec, or an exact
  cosine scan).

Without an embeddings model (or when embedding the query fails) lexical search
answers alone, and ``retrieval.mode`` is ``lexical`` with a ``notice`` saying
why. Each result carries its text, score, ranks and source (document, position,
page, URL).
"""

import re
from collections.abc import Sequence
from typing import Any

from threadline.errors import InvalidField, NotFound
from threadline.providers.base import LLMError
from threadline.service.caller import Caller
from threadline.service.knowledge import bases
from threadline.service.knowledge.ingest import team_key
from threadline.service.runtime import Runtime
from threadline.store import Store

JsonDict = dict[str, Any]
RRF_K = 60
MAX_TERMS = 64
NO_MODEL = (
    "no embeddings model is configured (THREADLINE_EMBEDDINGS_MODEL): "
    "lexical full-text search only"
)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


def terms(query: str) -> list[str]:
    """The query's distinct words (lower-case, stop words dropped)."""
    seen: dict[str, None] = {}
    for word in re.findall(r"[^\W_]+", query.lower()):
        if word not in _STOP and len(seen) < MAX_TERMS:
            seen.setdefault(word, None)
    return list(seen)


def fuse(rankings: Sequence[Sequence[int]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of id rankings: ``(id, score)``, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


async def hybrid(
    store: Store,
    runtime: Runtime,
    team_id: str,
    kb_ids: Sequence[str],
    query: str,
    top_k: int,
) -> JsonDict:
    """Search the team's knowledge bases ``kb_ids`` (all known to exist)."""
    pool = max(top_k * 4, 20)
    async with store.begin() as tx:
        kb = tx.knowledge()
        lexical = await kb.lexical(team_id, kb_ids, terms(query), pool)
        vector_search = kb.vector_search()
    retrieval: JsonDict = {
        "mode": "lexical",
        "lexical": "sqlite-fts5" if store.dialect == "sqlite" else "postgresql-fts",
        "vector": None,
        "embeddings_model": None,
        "notice": NO_MODEL,
        "usage": None,
    }
    rankings: list[list[int]] = [lexical]
    dense: list[int] = []
    if runtime.embeddings is not None:
        model = runtime.embeddings.model
        try:
            got = await runtime.embeddings.embed(
                [query], team_key=await team_key(store, team_id)
            )
        except LLMError as exc:
            retrieval["notice"] = (
                f"embedding the query failed ({exc.message}): lexical full-text "
                "search only"
            )
        else:
            async with store.begin() as tx:
                dense = await tx.knowledge().nearest(
                    team_id, kb_ids, model, got.vectors[0], pool
                )
            rankings.append(dense)
            retrieval.update(
                mode="hybrid",
                vector=vector_search,
                embeddings_model=model,
                notice=None,
                usage={
                    "model": got.model,
                    "input_tokens": got.input_tokens,
                    "requests": got.requests,
                    "cost_usd": got.cost_usd,
                },
            )
    fused = fuse(rankings)[:top_k]
    async with store.begin() as tx:
        chunks = await tx.knowledge().chunks(team_id, [i for i, _ in fused])
    scores = dict(fused)
    results = [
        {
            "text": c.text,
            "score": round(scores[int(c.id or 0)], 6),
            "knowledge_base_id": c.kb_id,
            "document_id": c.document_id,
            "chunk_id": c.id,
            "position": c.position,
            "source": c.source,
            "ranks": {
                "lexical": _rank(lexical, c.id),
                "vector": _rank(dense, c.id),
            },
        }
        for c in chunks
    ]
    return {"query": query, "results": results, "retrieval": retrieval}


def _rank(ranking: list[int], item: int | None) -> int | None:
    return ranking.index(item) + 1 if item in ranking else None


def checked_query(raw: Any, runtime: Runtime) -> tuple[str, int]:
    """``(query, top_k)`` of a search body, within the operator's ceilings."""
    if not isinstance(raw, dict):
        raise InvalidField("body: must be a JSON object")
    limits = runtime.knowledge_limits
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidField("query: must be a non-empty string")
    if len(query) > limits.max_query_chars:
        raise InvalidField(
            f"query: {len(query)} characters; at most {limits.max_query_chars} "
            "(THREADLINE_KB_MAX_QUERY_CHARS)"
        )
    top_k = raw.get("top_k", limits.default_top_k)
    if (
        isinstance(top_k, bool)
        or not isinstance(top_k, int)
        or not (1 <= top_k <= limits.max_top_k)
    ):
        raise InvalidField(
            f"top_k: must be an integer from 1 to {limits.max_top_k} "
            "(THREADLINE_KB_MAX_TOP_K)"
        )
    return query, top_k


async def search(
    store: Store, caller: Caller, runtime: Runtime, kb_id: str, raw: Any
) -> JsonDict:
    """``POST /v1/knowledge-bases/{id}/search``."""
    async with store.begin() as tx:
        await bases.get_doc(tx, caller, kb_id)
    query, top_k = checked_query(raw, runtime)
    return await hybrid(store, runtime, caller.team_id, [kb_id], query, top_k)


class StoreRetriever:
    """The ``Retriever`` of ``knowledge_base`` tools: the caller team's knowledge
    bases in this store. Unknown ids are reported next to the results; when none
    of the tool's ids exists the call fails naming them."""

    def __init__(self, store: Store, runtime: Runtime) -> None:
        self.store = store
        self.runtime = runtime

    async def search(
        self,
        query: str,
        knowledge_base_ids: Sequence[str],
        *,
        timeout_ms: int | None = None,
        team_id: str = "",
    ) -> JsonDict:
        limits = self.runtime.knowledge_limits
        wanted = list(dict.fromkeys(str(k) for k in knowledge_base_ids))
        if not wanted:
            raise NotFound("the knowledge_base tool names no target_knowledge_base_ids")
        async with self.store.begin() as tx:
            known = [k for k in wanted if await bases.find(tx, team_id, k) is not None]
        missing = [k for k in wanted if k not in known]
        if not known:
            raise NotFound(
                f"no knowledge base {', '.join(map(repr, missing))} in this team"
            )
        found = await hybrid(
            self.store,
            self.runtime,
            team_id,
            known,
            query[: limits.max_query_chars],
            limits.default_top_k,
        )
        results = [
            {"text": r["text"], "score": r["score"], "source": r["source"]}
            for r in found["results"]
        ]
        out: JsonDict = {"query": found["query"], "results": results}
        if missing:
            out["unknown_knowledge_base_ids"] = missing
        return out
