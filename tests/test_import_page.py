"""The import page: upload with the token, preview, confirm; in a real browser."""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from kb.bundled import DATA_DIR
from kb.staging import PREFIX, Staging
from tests.conftest import run_kb, serve
from tests.test_pages import assert_clean

#: Where the preview's screenshot goes (outside the repository; quoted in the closing note).
SCREENSHOT = Path(tempfile.gettempdir()) / "medsupply-kb" / "import-preview.png"
TABLE = (DATA_DIR / "examples" / "comtrade-masks.csv").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    store = tmp_path_factory.mktemp("import-page") / "store"
    assert run_kb("load", str(DATA_DIR / "reference"), store=store).returncode == 0
    with serve(store, update_token="s3cret") as url:
        yield url


def count_statistics(url: str) -> int:
    answer = httpx.get(f"{url}/sparql", params={
        "query": "SELECT (COUNT(*) AS ?n) WHERE { ?s a <https://w3id.org/medsupply-kb/ontology#"
                 "ExportStatistic> }"}, headers={"Accept": "text/csv"})
    return int(answer.text.splitlines()[1])


def test_the_page_refuses_without_the_token_and_shows_unresolved_names(server: str) -> None:
    files = {"file": ("t.csv", TABLE, "text/csv")}
    wrong = httpx.post(f"{server}/import", data={"token": "nope", "mapping": "trade-statistics"},
                       files=files)
    assert wrong.status_code == 403 and "not the update token" in wrong.text
    bad = TABLE.replace(b"CHN", b"Chinaa")
    preview = httpx.post(f"{server}/import", data={"token": "s3cret",
                         "mapping": "trade-statistics"}, files={"file": ("t.csv", bad)})
    assert preview.status_code == 200
    assert "unresolved; closest: China (CN)" in preview.text
    assert "t.csv:3:reporter: unknown country &#39;Chinaa&#39;" in preview.text
    assert 'id="confirm"' not in preview.text
    assert count_statistics(server) == 0


def test_upload_preview_confirm_in_the_browser(server: str, page) -> None:
    p, log = page
    p.goto(f"{server}/import")
    upload = p.locator("#upload")
    upload.locator("input[type=file]").set_input_files(
        files=[{"name": "comtrade-masks.csv", "mimeType": "text/csv", "buffer": TABLE}])
    upload.locator("select[name=mapping]").select_option("trade-statistics")
    upload.locator("input[name=token]").fill("s3cret")
    upload.locator("button[type=submit]").click()
    p.wait_for_selector("#preview")
    entities = p.locator("#entities").inner_text()
    assert "matched: CN" in entities and "matched: face-mask" in entities
    assert "ms:ExportStatistic" in p.locator("#preview").inner_text()
    assert count_statistics(server) == 0  # a preview writes nothing
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOT), full_page=True)
    p.locator("#confirm button").click()
    p.wait_for_selector("#import-done")
    assert "Imported 3 row(s)" in p.locator("#import-done").inner_text()
    assert count_statistics(server) == 3
    assert_clean(log)


def _preview(url: str, name: str, data: bytes) -> str:
    """Upload ``data`` as ``name``; returns the stage's key from the preview."""
    preview = httpx.post(f"{url}/import", data={"token": "s3cret", "mapping": "trade-statistics"},
                         files={"file": (name, data)}, timeout=60)
    assert preview.status_code == 200, preview.text
    return re.search(r'name="staged" value="([^"]+)"', preview.text)[1]


def _age(key: str, seconds: float) -> Path:
    """Make the stage ``key`` (of the server, in its temporary folder) ``seconds`` old."""
    [folder] = [p.parent for p in Path(tempfile.gettempdir()).glob(f"kb-upload-*/{key}")]
    then = time.time() - seconds
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (then, then))
    return folder


def test_an_upload_never_confirmed_expires(server: str) -> None:
    unique = uuid.uuid4().hex  # this test's files only, whoever else runs tests here
    statistics = count_statistics(server)
    old = _preview(server, f"old-{unique}.csv", TABLE)
    folder = _age(old, 2 * 3600)  # previewed two hours ago (KB_IMPORT_STAGE_SECONDS: 1 hour)
    confirm = httpx.post(f"{server}/import", data={"token": "s3cret",
                         "mapping": "trade-statistics", "staged": old}, timeout=60)
    assert confirm.status_code == 410
    assert "was previewed more than 1 hour ago and has expired: upload the file again" in (
        confirm.text)
    assert not folder.exists() and count_statistics(server) == statistics
    stale = _preview(server, f"stale-{unique}.csv", TABLE + b"\n")
    folder = _age(stale, 2 * 3600)
    _preview(server, f"new-{unique}.csv", TABLE)  # each new preview removes the expired ones
    assert not folder.exists()
    gone = httpx.post(f"{server}/import", data={"token": "s3cret",
                      "mapping": "trade-statistics", "staged": stale}, timeout=60)
    assert gone.status_code == 410 and "is no longer staged" in gone.text
    assert count_statistics(server) == statistics


def test_a_starting_server_removes_the_stale_uploads_of_earlier_ones(tmp_path: Path) -> None:
    stale, young, digest = tmp_path / f"{PREFIX}stale", tmp_path / f"{PREFIX}young", "a" * 64
    for folder in (stale, young):
        (folder / digest).mkdir(parents=True)
        (folder / digest / "t.csv").write_bytes(TABLE)
    then = time.time() - 7200
    for path in (stale, stale / digest, stale / digest / "t.csv"):
        os.utime(path, (then, then))
    assert Staging(3600, parent=tmp_path).remove_stale_folders() == 1
    assert not stale.exists() and (young / digest / "t.csv").exists()
