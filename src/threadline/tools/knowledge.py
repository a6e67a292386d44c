"""The seam ``knowledge_base`` tools search through, and the operator's ceilings
on knowledge bases.

Threadline's own knowledge bases (``service.knowledge``) implement
:class:`Retriever`; every process hands theirs to the runtime
(``service.processes.attach``), which passes it to
:class:`threadline.tools.runner.ToolRunner`. Without one, every
``knowledge_base`` tool call fails with :data:`NO_RETRIEVER_MESSAGE` (reported as
a tool failure, never raised).

Only ``query`` reaches the retriever (with the tool's ``target_knowledge_base_ids``,
its timeout and the caller's team), mirroring the Interactly KB service;
``justification`` and any other model-supplied argument are dropped.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["NO_RETRIEVER_MESSAGE", "KnowledgeLimits", "Retriever"]


@dataclass(frozen=True)
class KnowledgeLimits:
    """The operator's ceilings on knowledge bases (``THREADLINE_KB_*``)."""

    max_knowledge_bases: int = 100
    max_documents: int = 500
    max_document_bytes: int = 5_000_000
    max_chunks: int = 20_000
    chunk_chars: int = 1_000
    chunk_overlap_chars: int = 150
    max_query_chars: int = 2_000
    max_top_k: int = 20
    default_top_k: int = 5


NO_RETRIEVER_MESSAGE = (
    "knowledge_base tools need a knowledge-base retriever, and none is configured "
    "on this server"
)


class Retriever(Protocol):
    """Semantic search over knowledge bases."""

    async def search(
        self,
        query: str,
        knowledge_base_ids: Sequence[str],
        *,
        timeout_ms: int | None = None,
        team_id: str = "",
    ) -> Any:
        """Chunks relevant to ``query`` (any JSON value, usually a list of dicts).

        Raise to report a failure; the message becomes the tool's error.
        """
        ...
