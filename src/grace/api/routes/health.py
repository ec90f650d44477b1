"""``GET /health``: the process answers (no authentication, no database round trip)."""

from __future__ import annotations

from fastapi import APIRouter

from grace.api.schemas import HealthReply

__all__ = ("router",)

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthReply, summary="Liveness")
async def health() -> HealthReply:
    """Answer ``{"status": "ok", "version": …}`` while the process is up."""
    from grace import __version__

    return HealthReply(version=__version__)
