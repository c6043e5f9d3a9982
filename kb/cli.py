"""The ``kb`` command line: thin adapters over the library, errors mapped to exit codes.

Exit codes: 0 success; 1 a ``KbError`` (bad input, refused query, store problem) or a
failed check; 2 a usage error (click's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import click
import pyoxigraph as ox

from kb.errors import KbError
from kb.namespaces import PREFIXES
from kb.settings import DEFAULT_STORE, Settings
from kb.store import KnowledgeBase

RESULT_CHOICES = ["table", "json", "csv", "tsv", "xml", "turtle", "nt", "jsonld", "rdfxml",
                  "trig", "nq"]
EXPORT_CHOICES = ["trig", "nq", "ttl", "nt", "jsonld", "rdfxml"]


def _fail_on_kb_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a KbError into ``Error: message`` on stderr and exit code 1 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KbError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


class _Context:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextlib.contextmanager
    def kb(self) -> Iterator[KnowledgeBase]:
        # The project's prefixes are declared for every query and update, as on the query
        # page; a query's own PREFIX lines win.
        kb = KnowledgeBase(self.settings, prefixes=PREFIXES)
        try:
            yield kb
        finally:
            kb.close()


pass_context = click.make_pass_decorator(_Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medsupply-kb")
@click.option("--store", metavar="LOC", envvar="KB_STORE", show_envvar=True,
              help=f"Folder of the on-disk store (default {DEFAULT_STORE}), 'memory', or the "
                   "http(s):// URL of a SPARQL 1.1 query endpoint.")
@click.option("--update-url", metavar="URL", envvar="KB_UPDATE_URL", show_envvar=True,
              help="SPARQL 1.1 update endpoint of a remote store, where it differs.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
              help="Host that SERVICE, LOAD and JSON-LD contexts may reach (repeatable; "
                   "also KB_ALLOW_HOSTS, comma-separated). None by default.")
@click.pass_context
@_fail_on_kb_error
def cli(ctx: click.Context, store: str | None, update_url: str | None,
        allow_hosts: tuple[str, ...]) -> None:
    """medsupply-kb: a knowledge base of the trade in medical supplies during COVID-19.

    \b
        kb load ontology data
        kb query 'SELECT ?c (COUNT(*) AS ?n) WHERE { ?s a ?c } GROUP BY ?c'
        kb serve
    """
    settings = Settings.from_env(store=store, update_url=update_url,
                                 allow_hosts=allow_hosts or None)
    ctx.obj = _Context(settings)


def _read_text(value: str, what: str) -> str:
    """The text itself, or the content of the file named after ``@``; ``-`` reads stdin."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as e:
            message = f"Cannot read the {what} file {path}: {e.strerror}"
            raise click.ClickException(message) from None
    return value


@contextlib.contextmanager
def _writing(output: Path) -> Iterator[Path]:
    """Create the folders ``output`` needs, then run the block that writes it; an error
    that names the path (not a traceback) when either fails."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise click.ClickException(
            f"Cannot create the folder {output.parent} for {output}: {e.strerror}") from None
    try:
        yield output
    except OSError as e:
        raise click.ClickException(f"Cannot write {e.filename or output}: {e.strerror}") from None


def _rich_progress() -> tuple[contextlib.AbstractContextManager[Any], Callable[[str, int], Callable[[int], None]]]:  # noqa: E501
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), TimeRemainingColumn(), transient=True)

    def factory(label: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(f"Loading {label}", total=total)
        return lambda n: progress.advance(task, n)

    return progress, factory


@cli.command()
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
@_fail_on_kb_error
def load(obj: _Context, paths: tuple[Path, ...], graph: str | None, format_: str | None,
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
    bar, factory = _rich_progress() if show else (contextlib.nullcontext(), None)
    with obj.kb() as kb, bar:
        check = None
        if validate_:
            from kb.validate import refuse_nonconforming

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


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--mapping", required=True, metavar="NAME|PATH",
              help="A shipped mapping (trade-statistics, incidents) or a CSVW metadata file.")
@click.option("--graph", metavar="IRI", help="Named graph for the facts (default: the file's).")
@click.option("--skip-bad", metavar="REPORT", type=click.Path(path_type=Path),
              help="Import the good rows; write the bad ones, with why, to this CSV.")
@click.option("--create", is_flag=True,
              help="Add organisations, people and standards that match no entity (once).")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; change nothing.")
@pass_context
@_fail_on_kb_error
def import_(obj: _Context, file: Path, mapping: str, graph: str | None, skip_bad: Path | None,
            create: bool, dry_run: bool) -> None:
    """Import a table (CSV) mapped to the ontology by a CSVW mapping, all or nothing.

    Names are resolved to the knowledge base's entities or reported (row, column, closest
    candidates); the facts go into the file's own graph, replacing what it imported before.

    \b
        kb import comtrade.csv --mapping trade-statistics
        kb import recalls.csv --mapping incidents --create --skip-bad bad-rows.csv
    """
    from kb.imports import import_table

    with obj.kb() as kb:
        report = import_table(kb, file, mapping, graph=graph, skip_bad=skip_bad,
                              create=create, dry_run=dry_run)
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {report.imported_rows:,} of {report.rows:,} row(s) as "
               f"{report.triples:,} triples into {report.graph}", err=True)
    for cls, n in sorted(report.classes.items()):
        click.echo(f"  {n:,} {_short_iri(cls)}", err=True)
    for kind, minted in sorted(report.created.items()):
        click.echo(f"  created {kind}: {', '.join(sorted(minted.values()))}", err=True)
    if report.bad_rows:
        click.echo(f"Skipped {report.bad_rows:,} bad row(s), listed in {skip_bad}:", err=True)
        click.echo(report.error_text(5), err=True)


@cli.command("export-incidents")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (default: stdout).")
@pass_context
@_fail_on_kb_error
def export_incidents(obj: _Context, output: Path | None) -> None:
    """The incident table as CSV: edit it and `kb import` it with --mapping incidents."""
    from kb.incident_table import export_incidents as write

    with obj.kb() as kb:
        if output is None:
            write(kb, sys.stdout)
            return
        with _writing(output), output.open("w", encoding="utf-8", newline="") as f:
            n = write(kb, f)
    click.echo(f"Wrote {n} incident(s) to {output}", err=True)


@cli.command()
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
@_fail_on_kb_error
def query(obj: _Context, query_text: str, format_: str | None, graphs: tuple[str, ...],
          params: tuple[str, ...]) -> None:
    """Run a SPARQL query and print the result. The knowledge base's prefixes (ms:,
    country:, rdfs:, …: kb.namespaces.PREFIXES) are declared for you, as on the query page;
    your own PREFIX lines win.

    \b
        kb query 'SELECT * WHERE { ?s ?p ?o } LIMIT 5'
        kb query @ontology/competency/cq24-complaints-march-april.rq --format csv
        kb query @ontology/competency/cq07-dutch-recall.rq --param country=country:ES
    """
    text = _read_text(query_text, "query")
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


def _short_iri(text: str) -> str:
    """``prefix:local`` where a known prefix fits, else ``<iri>``."""
    for prefix, iri in PREFIXES.items():
        if text.startswith(iri) and "/" not in text[len(iri):]:
            return f"{prefix}:{text[len(iri):]}"
    return f"<{text}>"


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
    _show_rows(columns, rows, footer=f"{len(rows)} row(s)")


def _show_rows(columns: list[str], rows: list[list[str]], footer: str | None = None) -> None:
    """Rows for a reader on a terminal: a table whose columns are at least as wide as their
    longest word (dates, names and IRIs are never broken inside), or, when those columns
    cannot fit the terminal, one block of ``name  value`` lines per row."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cells = [[c, *(r[i] for r in rows)] for i, c in enumerate(columns)]
    words = [max((len(w) for v in values for w in v.split()), default=1) for values in cells]
    natural = [max(max(len(v) for v in values), 1) for values in cells]
    room = console.width - 3 * len(columns) - 1  # borders and padding
    if sum(words) <= room:
        # Every column as wide as its longest word, the room left shared out in proportion
        # to what each column would still take.
        extra, wanted = room - sum(words), sum(natural) - sum(words)
        widths = [min(n, w + (extra * (n - w)) // wanted if wanted else w)
                  for w, n in zip(words, natural, strict=True)]
        table = Table()
        for column, width in zip(columns, widths, strict=True):
            table.add_column(column, width=width, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        for n, row in enumerate(rows, 1):
            console.rule(f"{n}", align="left", style="dim")
            record = Table.grid(padding=(0, 2))
            record.add_column(style="bold", no_wrap=True)
            record.add_column(overflow="fold")
            for column, value in zip(columns, row, strict=True):
                record.add_row(column, value)
            console.print(record)
    if footer:
        console.print(footer, style="dim")


def _cell(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return _short_iri(term.value)
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)


@cli.command()
@click.argument("update_text", metavar="UPDATE|@FILE.ru|-")
@pass_context
@_fail_on_kb_error
def update(obj: _Context, update_text: str) -> None:
    """Run a SPARQL Update atomically: if any part fails, nothing changes. The knowledge
    base's prefixes are declared for you, as for `kb query`.

    \b
        kb update 'DROP GRAPH <https://w3id.org/medsupply-kb/graph/file/old.ttl>'
    """
    with obj.kb() as kb:
        kb.update(_read_text(update_text, "update"))
    click.echo("Update applied.", err=True)


@cli.command()
@click.option("-f", "--format", "format_", type=click.Choice(EXPORT_CHOICES), default="trig",
              show_default=True, help="RDF format; ttl, nt and rdfxml need --graph.")
@click.option("--graph", metavar="IRI", help="Export only this named graph (an IRI, or a short "
              "name such as 'ontology' or 'source/seed-report').")
@click.option("--ontology", is_flag=True, help="Export only the ontology (for Protégé: -f ttl "
              "or -f rdfxml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output (folders are created).")
@pass_context
@_fail_on_kb_error
def export(obj: _Context, format_: str, graph: str | None, ontology: bool,
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
            with _writing(output):
                try:
                    with tmp.open("wb") as f:
                        run_export(kb, plan.format, output=f, plan=plan)
                    tmp.replace(output)
                finally:
                    tmp.unlink(missing_ok=True)


@cli.group()
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
@_fail_on_kb_error
def graph_export(obj: _Context, format_: str, output: Path | None) -> None:
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
    with _writing(output):
        files = write_graph_files(g, format_, output)
    click.echo("Wrote " + ", ".join(str(f) for f in files), err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--top", default=15, show_default=True, help="How many classes and properties.")
@pass_context
@_fail_on_kb_error
def stats(obj: _Context, as_json: bool, top: int) -> None:
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
            table.add_row(_short_iri(iri), f"{n:,}")
        console.print(table)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@pass_context
def validate(obj: _Context, paths: tuple[Path, ...], as_json: bool) -> None:
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


@cli.command()
@click.option("--profile", type=click.Choice(["rdfs", "owlrl"]), default="owlrl",
              show_default=True, help="Which entailment rules to apply.")
@click.option("--force", is_flag=True, help="Reason even if nothing changed since the last run.")
@pass_context
@_fail_on_kb_error
def reason(obj: _Context, profile: str, force: bool) -> None:
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


def _emit(rows: list[dict[str, Any]], fmt: str | None) -> None:
    """Rows as a table (on a terminal by default), JSON or CSV."""
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        import csv

        columns = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    else:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        _show_rows(columns, [[_short_iri(str(v)) if str(v).startswith("http") else str(v)
                              for v in (row.get(c, "") for c in columns)] for row in rows])


FORMAT_OPTION = click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                             help="Default: a table on a terminal, else JSON.")


@cli.group()
def analytics() -> None:
    """Graph analytics on projections of the store (networkx)."""


@contextlib.contextmanager
def _progress(what: str) -> Iterator[None]:
    """A spinner with the elapsed time on stderr while ``what`` runs (terminals only:
    projections and betweenness take seconds to minutes on a large store)."""
    import time

    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    started = time.perf_counter()
    with Console(stderr=True).status(f"{what}…"):
        yield
    click.echo(f"{what}: {time.perf_counter() - started:.1f} s", err=True)


@analytics.command("centrality")
@click.option("--measure", type=click.Choice(["degree", "betweenness", "pagerank", "eigenvector"]),
              default="pagerank", show_default=True, help="Which centrality measure.")
@click.option("--top", "top_n", default=20, show_default=True, help="How many entities.")
@click.option("--k", type=int, help="Betweenness: sample this many source nodes.")
@click.option("--class", "classes", multiple=True, metavar="IRI",
              help="Only entities of this class.")
@click.option("--save", is_flag=True, help="Write the scores into the analytics graph.")
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_centrality(obj: _Context, measure: str, top_n: int, k: int | None,
                         classes: tuple[str, ...], save: bool, fmt: str | None) -> None:
    """The most central entities.

    \b
        kb analytics centrality --measure betweenness --class https://w3id.org/medsupply-kb/ontology#Country
    """
    from kb.analytics import centrality_report

    with obj.kb() as kb:
        with _progress(f"Computing {measure} centrality"):
            rows = centrality_report(kb, measure, top_n=top_n, k=k, classes=list(classes),
                                     save=save)
        _emit(rows, fmt)


@analytics.command("communities")
@click.option("--seed", default=42, show_default=True, help="Seed of the Louvain method.")
@click.option("--save", is_flag=True, help="Write community membership into the analytics graph.")
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_communities(obj: _Context, seed: int, save: bool, fmt: str | None) -> None:
    """Louvain communities of the entity graph, with their modularity."""
    from kb.analytics import communities_report

    with obj.kb() as kb:
        with _progress("Finding communities"):
            rows = communities_report(kb, seed=seed, save=save)
        _emit(rows, fmt)


@analytics.command("path")
@click.argument("source")
@click.argument("target")
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_path(obj: _Context, source: str, target: str, fmt: str | None) -> None:
    """The path between two entities, each hop explained (predicate and source).

    \b
        kb analytics path https://w3id.org/medsupply-kb/id/country/NL https://w3id.org/medsupply-kb/id/org/mofcom
    """
    from kb.analytics import path_report
    from kb.queries import expand

    with obj.kb() as kb:
        with _progress("Finding the path"):
            rows = path_report(kb, expand(source), expand(target))
        _emit(rows, fmt)


@analytics.command("components")
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_components(obj: _Context, fmt: str | None) -> None:
    """Connected components of the entity graph."""
    from kb.analytics import components_report

    with obj.kb() as kb:
        with _progress("Finding components"):
            rows = components_report(kb)
        _emit(rows, fmt)


DEPTH_OPTION = click.option("--depth", type=click.IntRange(1, 3), default=1, show_default=True,
                            help="Hops around the entity (1-3).")
#: The old name of --depth in `kb analytics ego`, still accepted.
RADIUS_ALIAS = click.option("--radius", type=click.IntRange(1, 3), hidden=True)


@analytics.command("ego")
@click.argument("iri")
@DEPTH_OPTION
@RADIUS_ALIAS
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_ego(obj: _Context, iri: str, depth: int, radius: int | None,
                  fmt: str | None) -> None:
    """The statements around one entity (an IRI or a short name such as country:NL).

    \b
        kb analytics ego country:NL --depth 2
    """
    from kb.analytics import ego_report
    from kb.queries import expand

    with obj.kb() as kb:
        with _progress("Reading the neighbourhood"):
            rows = ego_report(kb, expand(iri), radius or depth)
        _emit(rows, fmt)


@analytics.command("flows")
@click.option("--product", metavar="IRI", help="Only this product category.")
@click.option("--start", metavar="DATE", help="Only what started on or after this day.")
@click.option("--end", metavar="DATE", help="Only what started on or before this day.")
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_flows(obj: _Context, product: str | None, start: str | None, end: str | None,
                    fmt: str | None) -> None:
    """Trade flows between countries: shipments summed per product and unit, and each
    reported figure (exporter, destination, product, unit, period) once, chosen among its
    sources, alternatives beside it; never added across periods, products or units."""
    from kb.analytics import flows_report
    from kb.queries import expand

    with obj.kb() as kb:
        with _progress("Summing the flows"):
            rows = flows_report(kb, product=expand(product) if product else None,
                                start=start, end=end)
        _emit(rows, fmt)


@analytics.command("indicators")
@click.argument("name", type=click.Choice(["exporter-shares", "incidents-by-country",
                                           "incidents-by-manufacturer", "incidents-by-standard",
                                           "conflicts", "figures"]))
@FORMAT_OPTION
@pass_context
@_fail_on_kb_error
def analytics_indicators(obj: _Context, name: str, fmt: str | None) -> None:
    """Domain indicators computed in SPARQL."""
    from kb.analytics import indicator

    with obj.kb() as kb:
        with _progress("Computing the indicator"):
            rows = indicator(kb, name)
        _emit(rows, fmt)


@cli.group()
def viz() -> None:
    """Interactive relationship graphs, written as self-contained HTML files."""


OUTPUT_OPTION = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                             required=True, help="The HTML file to write (opens offline; "
                             "folders are created).")


def _write_page(output: Path, html_text: str) -> None:
    with _writing(output):
        output.write_text(html_text, encoding="utf-8")
    click.echo(f"Wrote {output}", err=True)


@viz.command("entity")
@click.argument("iri")
@DEPTH_OPTION
@RADIUS_ALIAS
@click.option("--max-nodes", default=300, show_default=True, help="Fold beyond this many.")
@OUTPUT_OPTION
@pass_context
@_fail_on_kb_error
def viz_entity(obj: _Context, iri: str, depth: int, radius: int | None, max_nodes: int,
               output: Path) -> None:
    """An entity and its neighbourhood.

    \b
        kb viz entity country:NL --depth 2 -o netherlands.html
    """
    from kb.queries import expand
    from kb.viz import entity_view

    with obj.kb() as kb:
        _write_page(output, entity_view(kb, expand(iri), depth=radius or depth,
                                        max_nodes=max_nodes,
                                        link=None))


@viz.command("path")
@click.argument("source")
@click.argument("target")
@OUTPUT_OPTION
@pass_context
@_fail_on_kb_error
def viz_path(obj: _Context, source: str, target: str, output: Path) -> None:
    """The explained path between two entities."""
    from kb.queries import expand
    from kb.viz import path_view

    with obj.kb() as kb:
        _write_page(output, path_view(kb, expand(source), expand(target), link=None))


@viz.command("flows")
@click.option("--product", metavar="IRI",
              help="Only this product category (an IRI or a short name: product:face-mask).")
@click.option("--start", metavar="DATE", help="Only what started on or after this day "
              "(YYYY-MM-DD).")
@click.option("--end", metavar="DATE", help="Only what started on or before this day "
              "(YYYY-MM-DD).")
@OUTPUT_OPTION
@pass_context
@_fail_on_kb_error
def viz_flows(obj: _Context, product: str | None, start: str | None, end: str | None,
              output: Path) -> None:
    """Trade flows between countries, arrows weighted by quantity: shipments and reported
    aggregates kept apart, as in `kb analytics flows`.

    \b
        kb viz flows --product product:face-mask -o flows.html
        kb viz flows --start 2020-03-01 --end 2020-04-30 -o spring.html
    """
    from kb.queries import expand
    from kb.viz import flows_view

    with obj.kb() as kb:
        _write_page(output, flows_view(kb, product=expand(product) if product else None,
                                       start=start, end=end, link=None))


@viz.command("query")
@click.argument("query_text", metavar="QUERY|@FILE.rq")
@OUTPUT_OPTION
@pass_context
@_fail_on_kb_error
def viz_query(obj: _Context, query_text: str, output: Path) -> None:
    """The graph of a CONSTRUCT or DESCRIBE query."""
    from kb.viz import query_view

    with obj.kb() as kb:
        _write_page(output, query_view(kb, _read_text(query_text, "query"), link=None))


@viz.command("ontology")
@OUTPUT_OPTION
@pass_context
@_fail_on_kb_error
def viz_ontology(obj: _Context, output: Path) -> None:
    """The ontology's classes and properties."""
    from kb.viz import ontology_view

    with obj.kb() as kb:
        _write_page(output, ontology_view(kb, link=None))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log every request (costs about 0.2 ms a request).")
@pass_context
@_fail_on_kb_error
def serve(obj: _Context, host: str, port: int, access_log: bool) -> None:
    """Serve the SPARQL endpoint, the pages and the API over HTTP."""
    import signal

    import uvicorn

    from api.app import create_app  # the one place kb reaches into api (an optional edge)
    from api.server import protocol_with_header_timeout

    # SIGTERM and SIGINT stop the server cleanly, with exit code 0. uvicorn catches them, shuts
    # down gracefully, then raises the signal again once its own handler is gone; the default
    # action of SIGTERM would then kill the process before the store is closed (flushed and
    # unlocked, the query workers stopped, their snapshots removed). This handler ends
    # ``uvicorn.run`` with SystemExit(0) instead, and ignores signals while the store closes.
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise SystemExit(0)

    kb = KnowledgeBase(obj.settings)
    handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        kb.start_query_workers()
        click.echo(f"Serving {obj.settings.store} on http://{host}:{port}/", err=True)
        uvicorn.run(create_app(kb), host=host, port=port, log_level="info", access_log=access_log,
                    timeout_graceful_shutdown=5,
                    # X-Forwarded-For from the trusted proxies only (uvicorn's own middleware;
                    # uvicorn alone would trust 127.0.0.1, or FORWARDED_ALLOW_IPS)
                    proxy_headers=bool(obj.settings.trusted_proxies),
                    forwarded_allow_ips=list(obj.settings.trusted_proxies) or None,
                    http=protocol_with_header_timeout(obj.settings.header_timeout,
                                                      obj.settings.io_timeout))
    finally:
        stopping = True
        kb.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _set_location(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        obj = ctx.find_object(_Context)
        if obj is not None:
            obj.settings = dataclasses.replace(obj.settings, **{str(param.name): value})
    return value


def _leaf_commands(group: click.Group) -> Iterator[click.Command]:
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command)
        else:
            yield command


# `kb load --store X …` as well as `kb --store X load …`: every command takes the store
# options after its name too (they win over those before it and over KB_STORE).
for _command in _leaf_commands(cli):
    _command.params += [
        click.Option(["--store"], metavar="LOC", expose_value=False, callback=_set_location,
                     help="Where the data lives (as `kb --store`; also KB_STORE)."),
        click.Option(["--update-url"], metavar="URL", expose_value=False,
                     callback=_set_location,
                     help="Update endpoint of a remote store (as `kb --update-url`)."),
    ]
