"""The import page: ``GET /import`` (the form), ``POST /import`` (preview, then confirm).

Writes need the update token, typed into the form (a browser cannot send a bearer header
from a plain form); the upload is staged on the server between preview and confirmation, by
its SHA-256, and imported with ``kb.imports.import_table`` as ``kb import`` does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import KB, SettingsDep
from api.routers.pages import _headers, templates
from kb.errors import KbError
from kb.imports import ImportReport, import_table, shipped_mappings

router = APIRouter(tags=["import"])
_STAGED = re.compile(r"[0-9a-f]{64}/[^/\\]+")


def _page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    headers = {**_headers(), "Cache-Control": "no-store"}
    return templates.TemplateResponse(request, "import.html", {
        "mappings": sorted(shipped_mappings()), **context}, status_code=status, headers=headers)


def _staging(request: Request) -> Path:
    folder = getattr(request.app.state, "import_staging", None)
    if folder is None:
        folder = request.app.state.import_staging = Path(tempfile.mkdtemp(prefix="kb-upload-"))
    return folder


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
    if file is not None and file.filename:
        data = await file.read()
        digest = hashlib.sha256(data).hexdigest()
        name = Path(file.filename).name or "upload.csv"
        path = _staging(request) / digest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        staged, dry_run = f"{digest}/{name}", True
    elif _STAGED.fullmatch(staged) and (_staging(request) / staged).is_file():
        path, dry_run = _staging(request) / staged, False
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
        shutil.rmtree(path.parent, ignore_errors=True)
    return _page(request, report=report, staged=staged, done=not dry_run, **form)
