"""``kb viz …``: interactive relationship graphs written as HTML files."""

from __future__ import annotations

from pathlib import Path

import click

from kb.commands.common import (
    DEPTH_OPTION,
    OUTPUT_OPTION,
    RADIUS_ALIAS,
    Context,
    fail_on_kb_error,
    pass_context,
    read_text,
    write_page,
)


@click.group()
def viz() -> None:
    """Interactive relationship graphs, written as self-contained HTML files."""


@viz.command("entity")
@click.argument("iri")
@DEPTH_OPTION
@RADIUS_ALIAS
@click.option("--max-nodes", default=300, show_default=True, help="Fold beyond this many.")
@OUTPUT_OPTION
@pass_context
@fail_on_kb_error
def viz_entity(obj: Context, iri: str, depth: int, radius: int | None, max_nodes: int,
               output: Path) -> None:
    """An entity and its neighbourhood.

    \b
        kb viz entity country:NL --depth 2 -o netherlands.html
    """
    from kb.namespaces import expand
    from kb.viz import entity_view

    with obj.kb() as kb:
        write_page(output, entity_view(kb, expand(iri), depth=radius or depth,
                                        max_nodes=max_nodes,
                                        link=None))


@viz.command("path")
@click.argument("source")
@click.argument("target")
@OUTPUT_OPTION
@pass_context
@fail_on_kb_error
def viz_path(obj: Context, source: str, target: str, output: Path) -> None:
    """The explained path between two entities."""
    from kb.namespaces import expand
    from kb.viz import path_view

    with obj.kb() as kb:
        write_page(output, path_view(kb, expand(source), expand(target), link=None))


@viz.command("flows")
@click.option("--product", metavar="IRI",
              help="Only this product category (an IRI or a short name: product:face-mask).")
@click.option("--start", metavar="DATE", help="Only what started on or after this day "
              "(YYYY-MM-DD).")
@click.option("--end", metavar="DATE", help="Only what started on or before this day "
              "(YYYY-MM-DD).")
@OUTPUT_OPTION
@pass_context
@fail_on_kb_error
def viz_flows(obj: Context, product: str | None, start: str | None, end: str | None,
              output: Path) -> None:
    """Trade flows between countries, arrows weighted by quantity: shipments and reported
    aggregates kept apart, as in `kb analytics flows`.

    \b
        kb viz flows --product product:face-mask -o flows.html
        kb viz flows --start 2020-03-01 --end 2020-04-30 -o spring.html
    """
    from kb.namespaces import expand
    from kb.viz import flows_view

    with obj.kb() as kb:
        write_page(output, flows_view(kb, product=expand(product) if product else None,
                                       start=start, end=end, link=None))


@viz.command("query")
@click.argument("query_text", metavar="QUERY|@FILE.rq")
@OUTPUT_OPTION
@pass_context
@fail_on_kb_error
def viz_query(obj: Context, query_text: str, output: Path) -> None:
    """The graph of a CONSTRUCT or DESCRIBE query."""
    from kb.viz import query_view

    with obj.kb() as kb:
        write_page(output, query_view(kb, read_text(query_text, "query"), link=None))


@viz.command("ontology")
@OUTPUT_OPTION
@pass_context
@fail_on_kb_error
def viz_ontology(obj: Context, output: Path) -> None:
    """The ontology's classes and properties."""
    from kb.viz import ontology_view

    with obj.kb() as kb:
        write_page(output, ontology_view(kb, link=None))


#: The commands this module adds to ``kb`` (``kb.cli`` registers them).
COMMANDS = [viz]
