"""The import page: upload with the token, preview, confirm; in a real browser."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from kb.bundled import DATA_DIR
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
