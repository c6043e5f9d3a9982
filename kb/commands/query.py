"""``kb query`` and ``kb update``: SPARQL from the command line, answers as tables or in
any of the engine's formats."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click
import pyoxigraph as ox

from kb.commands.common import (
    RESULT_CHOICES,
    Context,
    fail_on_kb_error,
    pass_context,
    read_text,
    show_rows,
)
from kb.namespaces import shorten
from kb.store import KnowledgeBase


@click.command()
@click.argument("query_text", metavar="QUERY|@FILE.rq|-")
@click.option("-f", "--format", "format_", type=click.Choice(RESULT_CHOICES),
              help="Output format; default: a table on a terminal, else JSON for SELECT/ASK "
                   "and Turtle for CONSTRUCT/DESCRIBE.")
@click.option("--graph", "graphs", multiple=True, metavar="IRI",
              help="Use only this named graph as the default graph (repeatable).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Bind ?NAME of a saved query (@FILE.rq with '# param:' lines, whose "
                   "values are used otherwise) to an IRI, a short name such as country:ES, "
                   "or text (repeatable).")
@pass_context
@fail_on_kb_error
def query(obj: Context, query_text: str, format_: str | None, graphs: tuple[str, ...],
          params: tuple[str, ...]) -> None:
    """Run a SPARQL query and print the result. The knowledge base's prefixes (ms:,
    country:, rdfs:, …: kb.namespaces.PREFIXES) are declared for you, as on the query page;
    your own PREFIX lines win.

    \b
        kb query 'SELECT * WHERE { ?s ?p ?o } LIMIT 5'
        kb query @ontology/competency/cq24-complaints-march-april.rq --format csv
        kb query @ontology/competency/cq07-dutch-recall.rq --param country=country:ES
    """
    text = read_text(query_text, "query")
    bindings = _saved_query_bindings(query_text, params)
    fmt = format_ or ("table" if sys.stdout.isatty() else None)
    with obj.kb() as kb:
        text = _select_star_in_written_order(kb, text)
        default_graph = list(graphs) or None
        if fmt == "table":
            _print_table(kb, text, default_graph, bindings)
            return
        graph_names = ("turtle", "nt", "jsonld", "rdfxml", "trig", "nq")

        def choose(kind: str) -> str:
            if fmt is None:
                return "turtle" if kind == "graph" else "json"
            if kind != "graph" and fmt in graph_names:
                raise click.ClickException(
                    f"--format {fmt} is for CONSTRUCT/DESCRIBE; use json, csv, tsv, xml or table")
            if kind == "graph" and fmt in ("json", "csv", "tsv"):
                raise click.ClickException(
                    f"--format {fmt} is for SELECT/ASK; use turtle, nt, jsonld, rdfxml or table")
            return fmt

        result = kb.query(text, format=choose, default_graph=default_graph, bindings=bindings)
    sys.stdout.buffer.write(result.data)
    if result.data and not result.data.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")  # a shell prompt or the next command's output
    sys.stdout.flush()


_SELECT_STAR = re.compile(r"\bSELECT(?:\s+(?:DISTINCT|REDUCED))?\s*(\*)", re.IGNORECASE)


def _select_star_in_written_order(kb: KnowledgeBase, text: str) -> str:
    """``text`` with the ``*`` of a top-level ``SELECT *`` replaced by its variables in the
    order they are first written (the engine lists them alphabetically). The variables are
    the engine's own: the query runs once on an empty store to learn them."""
    from kb.safety import mask_literals

    masked = mask_literals(text)
    star = _SELECT_STAR.search(masked)
    if star is None or "{" in masked[:star.start()]:
        return text
    kb.check_query(text)  # nothing refused runs, not even on an empty store
    try:
        raw = ox.Store().query(text, prefixes=kb.prefixes or None)
    except (SyntaxError, OSError, ValueError, RuntimeError):
        return text  # the real run reports it
    if not isinstance(raw, ox.QuerySolutions):
        return text
    names = [v.value for v in raw.variables]
    if not names:
        return text

    def first_written(name: str) -> int:
        m = re.search(rf"[?$]{re.escape(name)}(?!\w)", masked[star.end():])
        return m.start() if m else len(masked)

    names.sort(key=first_written)
    at = star.start(1)
    return text[:at] + " ".join(f"?{n}" for n in names) + text[at + 1:]


def _saved_query_bindings(query_text: str, params: tuple[str, ...]) -> dict[str, Any] | None:
    """The terms for the parameters of a saved query file: its ``# param:`` values, with
    ``--param NAME=VALUE`` applied."""
    overrides = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{param!r}: write NAME=VALUE", param_hint="--param")
        overrides[name.strip()] = value.strip()
    if not query_text.startswith("@"):
        if overrides:
            raise click.UsageError("--param binds the parameters of a saved query: give the "
                                   "query as @FILE.rq")
        return None
    from kb.queries import parse

    return parse(Path(query_text[1:])).bindings(overrides) or None


def _print_table(kb: KnowledgeBase, text: str, default_graph: list[str] | None,
                 bindings: dict[str, Any] | None = None) -> None:
    def tabulate(raw: Any) -> tuple[list[str], list[list[str]]] | bool:
        if isinstance(raw, ox.QueryBoolean):
            return bool(raw)
        if isinstance(raw, ox.QuerySolutions):
            names = [v.value for v in raw.variables]
            return names, [[_cell(solution[n]) for n in names] for solution in raw]
        return ["subject", "predicate", "object"], [
            [_cell(t.subject), _cell(t.predicate), _cell(t.object)] for t in raw]

    answer = kb.run(text, tabulate, default_graph=default_graph, bindings=bindings)
    if isinstance(answer, bool):
        click.echo("yes" if answer else "no")
        return
    columns, rows = answer
    show_rows(columns, rows, footer=f"{len(rows)} row(s)")


def _cell(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return shorten(term.value)
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


@click.command()
@click.argument("update_text", metavar="UPDATE|@FILE.ru|-")
@pass_context
@fail_on_kb_error
def update(obj: Context, update_text: str) -> None:
    """Run a SPARQL Update atomically: if any part fails, nothing changes. The knowledge
    base's prefixes are declared for you, as for `kb query`.

    \b
        kb update 'DROP GRAPH <https://w3id.org/medsupply-kb/graph/file/old.ttl>'
    """
    with obj.kb() as kb:
        kb.update(read_text(update_text, "update"))
    click.echo("Update applied.", err=True)


#: The commands this module adds to ``kb`` (``kb.cli`` registers them).
COMMANDS = [query, update]
