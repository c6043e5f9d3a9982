"""The import page: ``GET /import`` (the form), ``POST /import`` (preview, then confirm).

Writes need the update token, typed into the form (a browser cannot send a bearer header
from a plain form); the upload is staged on the server between preview and confirmation, by
its SHA-256, and imported with ``kb.imports.import_table`` as ``kb import`` does.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import KB, SettingsDep
from api.templating import page_headers, templates
from kb.errors import KbError
from kb.imports import ImportReport, import_table, shipped_mappings
from kb.staging import StageExpired, Staging

router = APIRouter(tags=["import"])


def _page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    headers = {**page_headers(), "Cache-Control": "no-store"}
    return templates.TemplateResponse(request, "import.html", {
        "mappings": sorted(shipped_mappings()), **context}, status_code=status, headers=headers)


def staging(app: object, seconds: float) -> Staging:
    """The app's staged uploads (made once; the server's start and shutdown call it too)."""
    state = app.state  # type: ignore[attr-defined]
    if getattr(state, "import_staging", None) is None:
        state.import_staging = Staging(seconds)
    return state.import_staging


@router.get("/import", response_class=HTMLResponse)
def import_form(request: Request) -> HTMLResponse:
    """Upload a table (CSV) with a mapping, to preview what it would add."""
    return _page(request)


@router.post("/import", response_class=HTMLResponse)
async def import_post(
    request: Request, kb: KB, settings: SettingsDep,
    token: Annotated[str, Form()] = "",
    mapping: Annotated[str, Form()] = "trade-statistics",
    create: Annotated[bool, Form()] = False,
    staged: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """``file`` previews (nothing is written); ``staged`` (from a preview) imports."""
    form = {"mapping": mapping, "create": create, "token": token}
    if not settings.update_token:
        return _page(request, 403, error="Imports are off: start the server with an update "
                     "token (KB_UPDATE_TOKEN).", **form)
    if not hmac.compare_digest(token.encode(), settings.update_token.encode()):
        return _page(request, 403, error="The token is not the update token.", **form)
    if mapping not in shipped_mappings():
        return _page(request, 400, error=f"No mapping named {mapping!r}.", **form)
    stages = staging(request.app, settings.import_stage_seconds)
    if file is not None and file.filename:
        staged, path = await run_in_threadpool(stages.stage, await file.read(), file.filename)
        dry_run = True
    elif staged:
        try:
            path, dry_run = stages.path(staged), False
        except StageExpired as e:
            return _page(request, 410, error=str(e), **form)
    else:
        return _page(request, 400, error="Choose a file to upload.", **form)
    report_path = path.with_name(path.name + ".bad-rows.csv")
    try:
        report: ImportReport = await run_in_threadpool(
            import_table, kb, path, mapping, create=create, dry_run=dry_run,
            skip_bad=report_path if dry_run else None)
    except KbError as e:
        return _page(request, 400, error=str(e), staged=staged, **form)
    if not dry_run:  # imported: the staged upload is not needed any more
        stages.remove(staged)
    return _page(request, report=report, staged=staged, done=not dry_run, **form)
