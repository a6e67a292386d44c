"""The seam ``knowledge_base`` tools search through.

Threadline ships no knowledge-base service. A deployment that has one implements
:class:`Retriever` and hands it to :class:`threadline.tools.runner.ToolRunner`;
without one, every ``knowledge_base`` tool call fails with
:data:`NO_RETRIEVER_MESSAGE` (reported as a tool failure, never raised).

Only ``query`` reaches the retriever (with the tool's ``target_knowledge_base_ids``
and its timeout), mirroring the Interactly KB service; ``justification`` and any
other model-supplied argument are dropped.
"""

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["NO_RETRIEVER_MESSAGE", "Retriever"]

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
    ) -> Any:
        """Chunks relevant to ``query`` (any JSON value, usually a list of dicts).

        Raise to report a failure; the message becomes the tool's error.
        """
        ...
