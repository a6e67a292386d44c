"""Liveness: ``GET /health`` answers without authentication."""

from typing import Any

from fastapi import APIRouter

from threadline import __version__

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    """Report that the service is up."""
    return {"status": "ok", "version": __version__}
