"""The commands on the data itself: ``kb load``, ``export``, ``graph export``, ``stats``,
``validate`` and ``reason``."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from kb.commands.common import (
    EXPORT_CHOICES,
    Context,
    fail_on_kb_error,
    pass_context,
    rich_progress,
    writing,
)
from kb.errors import KbError
from kb.namespaces import shorten


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--graph", metavar="IRI", help="Named graph for the triples of non-quad files.")
@click.option("--format", "format_", metavar="FORMAT",
              help="Format of every file (ttl, nt, nq, trig, jsonld, rdfxml, n3); "
                   "default: from each extension.")
@click.option("--force", is_flag=True, help="Reload files whose content has not changed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option("--validate", "validate_", is_flag=True,
              help="Refuse the files if a node they touch would break a SHACL shape in the "
                   "store with them.")
@pass_context
@fail_on_kb_error
def load(obj: Context, paths: tuple[Path, ...], graph: str | None, format_: str | None,
         force: bool, quiet: bool, validate_: bool) -> None:
    """Load RDF files and folders, all or nothing.

    TriG and N-Quads keep their graphs; any other file goes into a named graph of its own
    (or --graph), the ontology (ontology/medsupply.ttl) into the ontology graph. The SHACL
    shapes and the JSON-LD context in ontology/ are not data and are left out. A file
    loaded again replaces what it loaded before; an unchanged file is skipped.

    \b
        kb load ontology data
        kb load data/spain.trig
        kb load ontology/medsupply.ttl --graph https://example.org/graph/draft
    """
    show = not quiet and sys.stderr.isatty()
    bar, factory = rich_progress() if show else (contextlib.nullcontext(), None)
    with obj.kb() as kb, bar:
        check = None
        if validate_:
            from kb.write_checks import refuse_nonconforming

            check = refuse_nonconforming(kb)
        report = kb.load(paths, graph=graph, format=format_, force=force, progress=factory,
                         check=check)
    if not quiet:
        for path, why in report.left_out:
            click.echo(f"Left out {path}: {why}.", err=True)
        graphs = {g for f in report.loaded for g in f.graphs}
        loaded = sum(f.triples for f in report.loaded)
        message = (f"Loaded {loaded:,} triples from {len(report.loaded)} file(s) "
                   f"into {len(graphs)} graph(s)")
        if report.skipped:
            message += f"; {len(report.skipped)} unchanged file(s) skipped"
        click.echo(message + ".", err=True)


@click.command()
@click.option("-f", "--format", "format_", type=click.Choice(EXPORT_CHOICES), default="trig",
              show_default=True, help="RDF format; ttl, nt and rdfxml need --graph.")
@click.option("--graph", metavar="IRI", help="Export only this named graph (an IRI, or a short "
              "name such as 'ontology' or 'source/seed-report').")
@click.option("--ontology", is_flag=True, help="Export only the ontology (for Protégé: -f ttl "
              "or -f rdfxml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output (folders are created).")
@pass_context
@fail_on_kb_error
def export(obj: Context, format_: str, graph: str | None, ontology: bool,
           output: Path | None) -> None:
    """Dump the dataset (TriG, N-Quads, JSON-LD) or one graph (any format), streamed, in a
    stable order: the same data always gives the same bytes.

    \b
        kb export -o dump.trig
        kb export --format ttl --graph https://w3id.org/medsupply-kb/graph/ontology
        kb export --ontology -f rdfxml -o medsupply.owl
    """
    from kb.export import ONTOLOGY_GRAPH, plan_export
    from kb.export import export as run_export

    if ontology:
        graph = str(ONTOLOGY_GRAPH)
    with obj.kb() as kb:
        plan = plan_export(kb, format_, graph=graph)
        if output is None:
            run_export(kb, plan.format, output=sys.stdout.buffer, plan=plan)
        else:
            tmp = output.with_name(output.name + ".partial")
            with writing(output):
                try:
                    with tmp.open("wb") as f:
                        run_export(kb, plan.format, output=f, plan=plan)
                    tmp.replace(output)
                finally:
                    tmp.unlink(missing_ok=True)


@click.group()
def graph() -> None:
    """The entity graph (a projection of the store) for other tools."""


@graph.command("export")
@click.option("-f", "--format", "format_", type=click.Choice(["graphml", "gexf", "csv", "json"]),
              default="graphml", show_default=True,
              help="GraphML or GEXF (Gephi), node-link JSON (networkx), CSV (Neo4j import).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output; folders are created); for CSV "
                   "(required), FILE-nodes.csv and FILE-relationships.csv.")
@pass_context
@fail_on_kb_error
def graph_export(obj: Context, format_: str, output: Path | None) -> None:
    """Write the entity graph for Gephi, Neo4j or networkx.

    \b
        kb graph export --format gexf -o medsupply.gexf
        kb graph export --format csv -o neo4j/medsupply
    """
    from kb.analytics import entity_graph
    from kb.graph_export import export_graph, write_graph_files

    if output is None and format_ == "csv":
        raise click.UsageError("--format csv writes two files (nodes, relationships): give -o")
    with obj.kb() as kb:
        g = entity_graph(kb)
    if output is None:
        sys.stdout.buffer.write(export_graph(g, format_))
        sys.stdout.flush()
        return
    with writing(output):
        files = write_graph_files(g, format_, output)
    click.echo("Wrote " + ", ".join(str(f) for f in files), err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--top", default=15, show_default=True, help="How many classes and properties.")
@pass_context
@fail_on_kb_error
def stats(obj: Context, as_json: bool, top: int) -> None:
    """Triples per graph, and the most used classes and properties."""
    with obj.kb() as kb:
        s = kb.stats()
    if as_json:
        click.echo(json.dumps({
            "store": obj.settings.store,
            "triples": s.triples,
            "graphs": {g.graph: g.triples for g in s.graphs},
            "classes": dict(s.classes[:top]),
            "properties": dict(s.properties[:top]),
        }, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    graphs = Table("graph", "triples", title=f"{s.triples:,} triples in {obj.settings.store}")
    for g in s.graphs:
        graphs.add_row(g.graph, f"{g.triples:,}")
    console.print(graphs)
    for title, items in (("classes", s.classes), ("properties", s.properties)):
        table = Table(title, "count", title=f"{len(items)} {title}")
        for iri, n in items[:top]:
            table.add_row(shorten(iri), f"{n:,}")
        console.print(table)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@pass_context
def validate(obj: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check the store (with PATHS added, not stored) against ontology/shapes.ttl.

    Exit code 0: conforms; 1: does not conform; 2: could not validate.
    """
    from kb.validate import parse_files, validate_store

    try:
        with obj.kb() as kb:
            extra = None
            if paths:
                from kb.load import discover

                graphs = parse_files(discover(paths))
                extra = next(iter(graphs.values())) if len(graphs) == 1 else None
                if extra is None:
                    from rdflib import Graph

                    extra = Graph()
                    for g in graphs.values():
                        extra += g
            report = validate_store(kb, extra=extra)
    except (KbError, SyntaxError, OSError) as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps({"conforms": report.conforms, "problems": [
            {"focus": p.focus, "path": p.path, "message": p.message, "severity": p.severity}
            for p in report.problems]}, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"{problem.severity}: {problem}")
        click.echo("Conforms." if report.conforms else
                   f"Does not conform: {len(report.problems)} problem(s).", err=True)
    sys.exit(0 if report.conforms else 1)


@click.command()
@click.option("--profile", type=click.Choice(["rdfs", "owlrl"]), default="owlrl",
              show_default=True, help="Which entailment rules to apply.")
@click.option("--force", is_flag=True, help="Reason even if nothing changed since the last run.")
@pass_context
@fail_on_kb_error
def reason(obj: Context, profile: str, force: bool) -> None:
    """Materialise what the ontology implies into the `inferred` named graph.

    Source graphs are never changed; run it again after loading new data. It does nothing
    when the asserted triples and the profile are those of the last run (--force redoes it).
    Queries see the inferred triples through the default (union) graph; to leave them out,
    query with --graph for each asserted graph, or GRAPH patterns.
    """
    from kb.reason import reason as run_reasoner

    with obj.kb() as kb:
        report = run_reasoner(kb, profile=profile, force=force)
    if report.skipped:
        click.echo(f"Unchanged since the last run: {report.added:,} triples inferred ({profile}) "
                   f"from {report.asserted:,} asserted ones are kept (--force to redo).",
                   err=True)
        return
    click.echo(f"{report.added:,} triples inferred ({profile}) from {report.asserted:,} "
               "asserted ones, in graph https://w3id.org/medsupply-kb/graph/inferred.", err=True)


#: The commands this module adds to ``kb`` (``kb.cli`` registers them).
COMMANDS = [load, export, graph, stats, validate, reason]
