"""Dependencies: how routes reach the knowledge base and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kb.settings import Settings
from kb.store import KnowledgeBase


# Both are ``async`` so that FastAPI calls them on the event loop: a plain ``def`` dependency
# costs a hop through the thread pool on every request.
async def get_kb(request: Request) -> KnowledgeBase:
    return request.app.state.kb


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def client_of(request: Request | None) -> str | None:
    """Who asks, for the query workers' fair share: the remote address."""
    return request.client.host if request is not None and request.client else None


KB = Annotated[KnowledgeBase, Depends(get_kb)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
