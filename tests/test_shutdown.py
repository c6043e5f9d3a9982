"""A server stopped by SIGTERM or SIGINT closes the knowledge base: the store is flushed and
unlocked, the query workers stop and their snapshots go, and the process exits with 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kb import KnowledgeBase
from tests.conftest import DATA, free_port, run_kb, wait_for_http

pytestmark = [pytest.mark.server, pytest.mark.reliability]

WRITE = "INSERT DATA { GRAPH <urn:g:shutdown> { <urn:a> <urn:b> 'written' } }"
HEADERS = {"Authorization": "Bearer s3cret", "Content-Type": "application/sparql-update"}


def _start(command: list[str], store: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_UPDATE_TOKEN="s3cret", KB_STORE=str(store), KB_QUERY_WORKERS="2")
    # its own process group, as a terminal's Ctrl-C reaches the server and its workers
    process = subprocess.Popen([*command, "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    wait_for_http(f"http://127.0.0.1:{port}/health", process)
    return process, f"http://127.0.0.1:{port}"


def _write_and_stop(command: list[str], store: Path, sig: int) -> tuple[int, str]:
    """Start the server, write and query through it, signal its process group; the exit
    code and standard error."""
    assert run_kb("load", str(DATA / "people.ttl"), store=store).returncode == 0
    process, url = _start(command, store)
    try:
        assert httpx.post(f"{url}/sparql", content=WRITE, headers=HEADERS).status_code == 204
        r = httpx.get(f"{url}/sparql", params={"query": "ASK { <urn:a> <urn:b> ?o }"})
        assert r.json()["boolean"] is True  # answered by a query worker
        assert store.with_name("store.snapshots").is_dir()
        os.killpg(process.pid, sig)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return process.returncode, stderr


def _closed_with_the_write(store: Path) -> None:
    assert not store.with_name("store.snapshots").exists()  # removed by KnowledgeBase.close
    stats = run_kb("stats", store=store)  # the lock is released at once
    assert stats.returncode == 0, stats.stderr
    with KnowledgeBase.open(str(store)) as kb:
        assert kb.ask("ASK { GRAPH <urn:g:shutdown> { <urn:a> <urn:b> 'written' } }")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_kb_serve_stops_cleanly_on_a_signal(tmp_path: Path, sig: int) -> None:
    store = tmp_path / "store"
    code, stderr = _write_and_stop([sys.executable, "-m", "kb", "serve"], store, sig)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    _closed_with_the_write(store)


def test_the_uvicorn_factory_closes_its_knowledge_base(tmp_path: Path) -> None:
    """``uvicorn --factory api.app:app_from_env``: the app made the knowledge base and closes
    it when the server shuts down (uvicorn itself then exits by the signal it got)."""
    store = tmp_path / "store"
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:app_from_env"]
    code, stderr = _write_and_stop(command, store, signal.SIGTERM)
    assert code in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr, stderr
    _closed_with_the_write(store)
