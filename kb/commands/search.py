"""``kb search``: the full-text index over names, quotations and evidence (kb.search)."""

from __future__ import annotations

import dataclasses
import sys

import click

from kb.commands.common import FORMAT_OPTION, Context, emit, fail_on_kb_error, pass_context
from kb.namespaces import shorten


@click.command()
@click.argument("text", required=False)
@click.option("--limit", default=20, show_default=True, help="How many entities, best first.")
@click.option("--reindex", is_flag=True, help="Build the search index anew from the store first.")
@FORMAT_OPTION
@pass_context
@fail_on_kb_error
def search(obj: Context, text: str | None, limit: int, reindex: bool, fmt: str | None) -> None:
    """Find entities by name, other name, a source's spelling, quotation or evidence (case
    and accents ignored; an exact name first).

    \b
        kb search bioeasy
        kb search 华春莹 --format json
        kb search --reindex
    """
    from kb.search import reindex as rebuild_index
    from kb.search import search as find

    if text is None and not reindex:
        raise click.UsageError("give the TEXT to search for (or --reindex)")
    with obj.kb() as kb:
        if reindex:
            click.echo(f"Indexed {rebuild_index(kb):,} names and texts.", err=True)
        hits = find(kb, text, limit=limit) if text is not None else []
    if text is None:
        return
    if (fmt or ("table" if sys.stdout.isatty() else "json")) == "json":
        emit([dataclasses.asdict(h) for h in hits], "json")
        return
    short = fmt != "csv"
    name = shorten if short else str
    emit([{"entity": name(h.iri), "label": h.label,
           "class": " ".join(name(c) for c in h.classes),
           "graphs": " ".join(name(g) for g in h.graphs), "match": h.match, "kind": h.kind}
          for h in hits], fmt)
    if not hits and short:
        click.echo(f"Nothing found for {text!r}.", err=True)


COMMANDS = [search]
