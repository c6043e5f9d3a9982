"""The project installed from its wheel, as a user gets it: the ontology, the SHACL shapes,
the JSON-LD context and the saved queries ship inside it, and ``kb serve`` run from another
folder finds them (validation refuses a bad write, JSON-LD is compacted with the context)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for_http

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
MS = "https://w3id.org/medsupply-kb/ontology#"
TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the wheel installed (``--no-deps``); the dependencies
    come from the test's own environment through a path entry (a plain path line in a .pth
    file: the editable install of this checkout that lives there is not activated)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a clean copy: no build/ left by an earlier build is reused
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "var"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"),
         str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("medsupply_kb-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "PYTHON"))}
    return subprocess.run([str(env_dir / "bin" / "kb"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_the_wheel_holds_the_ontology_and_kb_comes_from_it(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import kb, kb.bundled as b; print(kb.__file__); "
         "print(b.SHAPES_FILE.is_file(), b.CONTEXT_FILE.is_file(), "
         "len(list(b.COMPETENCY_DIR.glob('*.rq'))))"],
        capture_output=True, text=True, cwd=tmp_path, check=True)
    where, found = probe.stdout.split("\n")[:2]
    assert Path(where).is_relative_to(installed)  # not this checkout
    files = found.split()
    assert files[:2] == ["True", "True"] and int(files[2]) > 5


def test_kb_serve_from_another_folder_validates_and_compacts(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = elsewhere / "shipment.ttl"
    data.write_text(f"<https://example.org/s1> <{MS}origin> "
                    "<https://w3id.org/medsupply-kb/id/country/CN> .\n")
    loaded = run(installed, "--store", "store", "load", "--graph", "https://example.org/g",
                 str(data), cwd=elsewhere)
    assert loaded.returncode == 0, loaded.stderr
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "PYTHON"))}
    env.update(KB_STORE="store", KB_UPDATE_TOKEN="s3cret", KB_VALIDATE_WRITES="1",
               KB_QUERY_WORKERS="1")
    server = subprocess.Popen([str(installed / "bin" / "kb"), "serve", "--port", str(port)],
                              cwd=elsewhere, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", server, timeout=60)
        refused = httpx.put(f"{url}/store", params={"graph": "urn:g:new"}, timeout=30,
                            headers={**TOKEN, "Content-Type": "text/turtle"},
                            content=f"<urn:p:v> a <{MS}Person> .")  # a person needs a name
        assert refused.status_code == 422, refused.text
        assert refused.json()["report"][0]["focus"] == "urn:p:v"
        r = httpx.get(f"{url}/export", params={"format": "jsonld", "graph": "https://example.org/g"},
                      timeout=30)
        assert r.status_code == 200, r.text
        doc = json.loads(r.text)
        assert doc["@context"]["ms"] == MS
        assert '"origin"' in r.text  # a term of ontology/context.jsonld, not a full IRI
        page = httpx.get(f"{url}/queries", timeout=30)
        assert page.status_code == 200 and len(page.json()) > 5  # the competency questions
        assert httpx.get(f"{url}/", timeout=30).status_code == 200  # templates and assets
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def test_the_wheel_ships_the_import_mappings(installed: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    loaded = run(installed, "--store", str(store), "load", str(ROOT / "data" / "reference"),
                 cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    dry = run(installed, "--store", str(store), "import", "--dry-run", "--mapping",
              "trade-statistics", str(ROOT / "data" / "examples" / "comtrade-masks.csv"),
              cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "Would import 3 of 3 row(s)" in dry.stderr
