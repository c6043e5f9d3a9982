"""``kb analytics …``: graph analytics on projections of the store."""

from __future__ import annotations

import click

from kb.commands.common import (
    DEPTH_OPTION,
    FORMAT_OPTION,
    RADIUS_ALIAS,
    Context,
    emit,
    fail_on_kb_error,
    pass_context,
    progress,
)


@click.group()
def analytics() -> None:
    """Graph analytics on projections of the store (networkx)."""


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
@fail_on_kb_error
def analytics_centrality(obj: Context, measure: str, top_n: int, k: int | None,
                         classes: tuple[str, ...], save: bool, fmt: str | None) -> None:
    """The most central entities.

    \b
        kb analytics centrality --measure betweenness --class https://w3id.org/medsupply-kb/ontology#Country
    """
    from kb.analytics import centrality_report

    with obj.kb() as kb:
        with progress(f"Computing {measure} centrality"):
            rows = centrality_report(kb, measure, top_n=top_n, k=k, classes=list(classes),
                                     save=save)
        emit(rows, fmt)


@analytics.command("communities")
@click.option("--seed", default=42, show_default=True, help="Seed of the Louvain method.")
@click.option("--save", is_flag=True, help="Write community membership into the analytics graph.")
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_communities(obj: Context, seed: int, save: bool, fmt: str | None) -> None:
    """Louvain communities of the entity graph, with their modularity."""
    from kb.analytics import communities_report

    with obj.kb() as kb:
        with progress("Finding communities"):
            rows = communities_report(kb, seed=seed, save=save)
        emit(rows, fmt)


@analytics.command("path")
@click.argument("source")
@click.argument("target")
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_path(obj: Context, source: str, target: str, fmt: str | None) -> None:
    """The path between two entities, each hop explained (predicate and source).

    \b
        kb analytics path https://w3id.org/medsupply-kb/id/country/NL https://w3id.org/medsupply-kb/id/org/mofcom
    """
    from kb.analytics import path_report
    from kb.namespaces import expand

    with obj.kb() as kb:
        with progress("Finding the path"):
            rows = path_report(kb, expand(source), expand(target))
        emit(rows, fmt)


@analytics.command("components")
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_components(obj: Context, fmt: str | None) -> None:
    """Connected components of the entity graph."""
    from kb.analytics import components_report

    with obj.kb() as kb:
        with progress("Finding components"):
            rows = components_report(kb)
        emit(rows, fmt)


@analytics.command("ego")
@click.argument("iri")
@DEPTH_OPTION
@RADIUS_ALIAS
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_ego(obj: Context, iri: str, depth: int, radius: int | None,
                  fmt: str | None) -> None:
    """The statements around one entity (an IRI or a short name such as country:NL).

    \b
        kb analytics ego country:NL --depth 2
    """
    from kb.analytics import ego_report
    from kb.namespaces import expand

    with obj.kb() as kb:
        with progress("Reading the neighbourhood"):
            rows = ego_report(kb, expand(iri), radius or depth)
        emit(rows, fmt)


@analytics.command("flows")
@click.option("--product", metavar="IRI", help="Only this product category.")
@click.option("--start", metavar="DATE", help="Only what started on or after this day.")
@click.option("--end", metavar="DATE", help="Only what started on or before this day.")
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_flows(obj: Context, product: str | None, start: str | None, end: str | None,
                    fmt: str | None) -> None:
    """Trade flows between countries: shipments summed per product and unit, and each
    reported figure (exporter, destination, product, unit, period) once, chosen among its
    sources, alternatives beside it; never added across periods, products or units."""
    from kb.analytics import flows_report
    from kb.namespaces import expand

    with obj.kb() as kb:
        with progress("Summing the flows"):
            rows = flows_report(kb, product=expand(product) if product else None,
                                start=start, end=end)
        emit(rows, fmt)


@analytics.command("indicators")
@click.argument("name", type=click.Choice(["exporter-shares", "incidents-by-country",
                                           "incidents-by-manufacturer", "incidents-by-standard",
                                           "conflicts", "figures"]))
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def analytics_indicators(obj: Context, name: str, fmt: str | None) -> None:
    """Domain indicators computed in SPARQL."""
    from kb.analytics import indicator

    with obj.kb() as kb:
        with progress("Computing the indicator"):
            rows = indicator(kb, name)
        emit(rows, fmt)


#: The commands this module adds to ``kb`` (``kb.cli`` registers them).
COMMANDS = [analytics]
