"""Shared fixtures: stores, a real Oxigraph server, a live kb server, and the CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase
from kb.bundled import DATA_DIR, ONTOLOGY_FILE, load_bundled
from kb.namespaces import ONTOLOGY_GRAPH

pytest_plugins = ["tests.browser"]  # the headless-browser fixtures: browser, page

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"  # tiny fixtures for the tests


# --- under CI a skip is a failure -----------------------------------------------------------

_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):  # an expected failure is no skip
        _skips.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _skips:
        print("\nUnder CI a skipped test is a failure (a system package is missing?):")  # noqa: T201
        for line in _skips:
            print(f"  {line}")  # noqa: T201
        session.exitstatus = 1


# --- helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {timeout} s")


def run_kb(*args: str, store: Path | str | None = None, input: str | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does: ``python -m kb …`` in a subprocess."""
    command = [sys.executable, "-m", "kb"]
    if store is not None:
        command += ["--store", str(store)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    return subprocess.run([*command, *args], capture_output=True, text=True, input=input,
                          cwd=cwd, env=env, timeout=120)


# --- stores ---------------------------------------------------------------------------------


@pytest.fixture
def memory_kb() -> Iterator[KnowledgeBase]:
    """An empty in-memory store."""
    with KnowledgeBase.open("memory") as kb:
        yield kb


@pytest.fixture
def groups_kb() -> Iterator[KnowledgeBase]:
    """Two triangles (a b c), (d e f) joined by c -bridge-> d; g -> a. 9 triples."""
    with KnowledgeBase.open("memory") as kb:
        kb.load([DATA / "two-groups.ttl"])
        yield kb


@pytest.fixture(scope="session")
def bundled() -> Iterator[KnowledgeBase]:
    """The ontology and data/ in memory, shared by the whole run: read-only for the tests (a
    module that needs more, or other data, defines its own ``bundled``)."""
    with KnowledgeBase.open("memory") as kb:
        load_bundled(kb)
        yield kb


@pytest.fixture
def disk_path(tmp_path: Path) -> Path:
    """Where an on-disk store goes (not created yet)."""
    return tmp_path / "store"


@pytest.fixture
def disk_kb(disk_path: Path) -> Iterator[KnowledgeBase]:
    """An empty on-disk store in a temporary folder."""
    with KnowledgeBase.open(str(disk_path)) as kb:
        yield kb


# --- real servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def oxigraph(location: Path, *options: str) -> Iterator[str]:
    """A real Oxigraph server (PyPI ``oxigraph``) over ``location`` on a loopback port, with
    ``options`` (e.g. ``--union-default-graph``); yields its base URL (``…/query``,
    ``…/update``, ``…/store``)."""
    binary = shutil.which("oxigraph", path=str(Path(sys.executable).parent)) or shutil.which(
        "oxigraph")
    if binary is None:
        pytest.skip("the oxigraph server is not installed (pip install oxigraph)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}",
         *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Oxigraph server with its union default graph (a bag: see README)."""
    with oxigraph(tmp_path_factory.mktemp("oxigraph"), "--union-default-graph") as url:
        yield url


@pytest.fixture
def remote_kb(oxigraph_server: str) -> Iterator[KnowledgeBase]:
    """The knowledge base over the Oxigraph server, emptied before each test."""
    httpx.post(f"{oxigraph_server}/update", data={"update": "DROP ALL"}).raise_for_status()
    with KnowledgeBase.open(f"{oxigraph_server}/query") as kb:
        yield kb


@contextlib.contextmanager
def serve(store: Path, **settings: str) -> Iterator[str]:
    """``kb serve`` in a subprocess (uvicorn) over ``store``; ``settings`` become ``KB_*``
    environment variables (e.g. ``UPDATE_TOKEN="s3cret"``). Yields the base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update({f"KB_{k.upper()}": v for k, v in settings.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "--store", str(store), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def bundled_store_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """Makes on-disk stores as a user does, with the CLI: ``make(name, turtle)`` loads the
    ontology (in its own graph), data/ and ``turtle`` (written to ``evil.ttl``: the tests
    put markup in its labels) into a new store in a folder named after ``name``, closed and
    ready for a server."""
    def make(name: str, turtle: str) -> Path:
        store = tmp_path_factory.mktemp(name) / "store"
        evil = store.parent / "evil.ttl"
        evil.write_text(turtle)
        for args in (["--graph", str(ONTOLOGY_GRAPH), str(ONTOLOGY_FILE)], [str(DATA_DIR)],
                     [str(evil)]):
            loaded = run_kb("load", *args, store=store)
            assert loaded.returncode == 0, loaded.stderr
        return store

    return make


@pytest.fixture
def people_store(tmp_path: Path) -> Path:
    """An on-disk store holding tests/data/people.ttl (closed: ready for a server)."""
    store = tmp_path / "store"
    loaded = run_kb("load", str(DATA / "people.ttl"), store=store)
    assert loaded.returncode == 0, loaded.stderr
    return store


@pytest.fixture
def live_server(people_store: Path) -> Iterator[str]:
    """``kb serve`` over people.ttl, writes off; yields the base URL."""
    with serve(people_store) as url:
        yield url


@pytest.fixture
def writable_server(people_store: Path) -> Iterator[str]:
    """``kb serve`` over people.ttl with the update token ``s3cret`` and a 64 KB body cap."""
    with serve(people_store, update_token="s3cret", max_body_bytes="65536") as url:
        yield url
