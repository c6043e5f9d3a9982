"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.assets import STATIC_DIR, Assets
from api.deps import KB
from api.errors import install_error_handlers
from api.routers import (
    analytics,
    browse,
    export,
    imports,
    ontology,
    pages,
    queries,
    search,
    sparql,
    store,
    viz,
)
from api.security import BodyLimit, HeaderLimit
from kb.settings import Settings
from kb.store import KnowledgeBase


def create_app(kb: KnowledgeBase, settings: Settings | None = None) -> FastAPI:
    """The FastAPI app serving ``kb``. The caller owns ``kb`` and closes it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stages = imports.staging(app, app.state.settings.import_stage_seconds)
        stages.remove_stale_folders()  # uploads of earlier servers, never confirmed
        yield
        stages.close()
        if getattr(app.state, "owns_kb", False):  # made by app_from_env: nobody else closes it
            app.state.kb.close()

    app = FastAPI(title="medsupply-kb", version="0.1.0", lifespan=lifespan,
                  description="SPARQL and graph views over the medical-supply trade KB.",
                  docs_url=None, redoc_url=None)
    app.state.kb = kb
    app.state.settings = settings or kb.settings
    install_error_handlers(app)
    app.include_router(sparql.router)
    app.include_router(store.router)
    app.include_router(ontology.router)
    app.include_router(analytics.router)
    app.include_router(export.router)
    app.include_router(viz.router)
    app.include_router(pages.router)
    app.include_router(queries.router)
    app.include_router(browse.router)
    app.include_router(imports.router)
    app.include_router(search.router)
    app.mount("/static", Assets(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(sparql.QueryFastPath)  # GET /sparql?query=…, past FastAPI's routing
    # Reads may come from any origin, without credentials; writes need a bearer token,
    # which a cross-origin page cannot send (Authorization is not an allowed header).
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=False,
                       allow_methods=["GET", "POST", "HEAD"], allow_headers=["Content-Type"])
    app.add_middleware(BodyLimit, limit=app.state.settings.max_body_bytes)
    app.add_middleware(HeaderLimit)  # outermost: checked before anything else runs

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the app's own static files (works offline), not framable; its
        one inline script (the set-up) is allowed by its hash."""
        page = get_swagger_ui_html(
            openapi_url="/openapi.json", title="medsupply-kb API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
            swagger_ui_parameters={"validatorUrl": None})  # no call to validator.swagger.io
        page.headers.update(docs_headers(bytes(page.body)))
        return page

    @app.get("/health", tags=["meta"])
    def health(kb: KB) -> dict[str, object]:
        """Liveness, the kind of store (disk, memory or remote: never where it is), how much
        it holds, and where the query workers answer from (``queries.mode``: "memory",
        "disk" or "loading", with the reason and the workers' resident memory)."""
        kind = "remote" if not kb.is_local else "memory" if kb.backend.path is None else "disk"  # type: ignore[union-attr]
        health: dict[str, object] = {"ok": True, "store": kind, "triples": len(kb),
                                     "graphs": len(kb.graphs())}
        if (workers := kb.query_workers_status()) is not None:
            health["queries"] = workers
        return health

    return app


def docs_headers(page: bytes) -> dict[str, str]:
    """CSP and framing headers for the Swagger UI page: scripts and styles from this server,
    plus its inline set-up script by hash."""
    import base64
    import hashlib
    import re

    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in re.finditer(rb"<script>(.*?)</script>", page, re.DOTALL))
    return {"Content-Security-Policy": (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"), "X-Frame-Options": "DENY", "X-Content-Type-Options":
        "nosniff", "Referrer-Policy": "no-referrer"}


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory api.app:app_from_env``: settings from ``KB_*`` variables."""
    kb = KnowledgeBase(Settings.from_env())
    kb.start_query_workers()
    app = create_app(kb)
    app.state.owns_kb = True  # closed when the server shuts down
    return app
