"""The layout's rules, read from the source with ``ast`` (nothing imported): no import circle
in ``kb/``; ``kb`` knows nothing of HTTP, and only its CLI (``kb.cli``, ``kb.commands``) knows
click or reaches into ``api``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: Path, modules: frozenset[str] = frozenset()) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, absolute names
    (``from kb import safety`` is ``kb.safety`` when that is one of ``modules``)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.add(sub if (sub := f"{base}.{alias.name}") in modules else base)
    return found


def _graph(package: str) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    names = frozenset(modules)
    return {name: {m for m in _imports(path, names) if m in modules and m != name}
            for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_kb_has_no_import_circle() -> None:
    assert _circles(_graph("kb")) == []


def test_kb_knows_nothing_of_http_and_only_its_cli_knows_click_and_api() -> None:
    for path in (ROOT / "kb").rglob("*.py"):
        name = _module_name(path)
        tops = {m.split(".")[0] for m in _imports(path)}
        assert not tops & {"fastapi", "starlette"}, name
        if not (name == "kb.cli" or name.startswith("kb.commands")):
            assert not tops & {"click", "api", "uvicorn"}, (
                f"{name} imports {tops & {'click', 'api', 'uvicorn'}}: only the CLI may "
                "(click for its commands; api and uvicorn lazily, for kb serve)")


def test_routers_import_no_other_router() -> None:
    for path in (ROOT / "api" / "routers").glob("*.py"):
        others = {m for m in _imports(path) if m.startswith("api.routers")}
        assert not others, f"{path.name} imports {others}: share through an api helper"
