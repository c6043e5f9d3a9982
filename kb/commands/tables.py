"""The commands on tables: ``kb import`` (a CSV mapped to the ontology) and
``kb export-incidents`` (the incident table to edit and import back)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kb.commands.common import Context, fail_on_kb_error, pass_context, writing
from kb.namespaces import shorten


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--mapping", required=True, metavar="NAME|PATH",
              help="A shipped mapping (trade-statistics, incidents) or a CSVW metadata file.")
@click.option("--graph", metavar="IRI", help="Named graph for the facts (default: the file's).")
@click.option("--skip-bad", metavar="REPORT", type=click.Path(path_type=Path),
              help="Import the good rows; write the bad ones, with why, to this CSV.")
@click.option("--create", is_flag=True,
              help="Add organisations, people and standards that match no entity (once).")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; change nothing.")
@click.option("--sheet", metavar="NAME", help="An Excel workbook's sheet (default: the first).")
@pass_context
@fail_on_kb_error
def import_(obj: Context, file: Path, mapping: str, graph: str | None, skip_bad: Path | None,
            create: bool, dry_run: bool, sheet: str | None) -> None:
    """Import a table (CSV, TSV or an Excel workbook's sheet) mapped to the ontology by a
    CSVW mapping, all or nothing.

    Names are resolved to the knowledge base's entities or reported (row, column, closest
    candidates); the facts go into the file's own graph, replacing what it imported before.

    \b
        kb import comtrade.csv --mapping trade-statistics
        kb import recalls.csv --mapping incidents --create --skip-bad bad-rows.csv
        kb import comtrade.xlsx --sheet 2020 --mapping trade-statistics
    """
    from kb.imports import import_table

    with obj.kb() as kb:
        report = import_table(kb, file, mapping, graph=graph, skip_bad=skip_bad,
                              create=create, dry_run=dry_run, sheet=sheet)
    verb = "Would import" if dry_run else "Imported"
    click.echo(f"{verb} {report.imported_rows:,} of {report.rows:,} row(s) as "
               f"{report.triples:,} triples into {report.graph}", err=True)
    for cls, n in sorted(report.classes.items()):
        click.echo(f"  {n:,} {shorten(cls)}", err=True)
    for kind, minted in sorted(report.created.items()):
        click.echo(f"  created {kind}: {', '.join(sorted(minted.values()))}", err=True)
    if report.bad_rows:
        click.echo(f"Skipped {report.bad_rows:,} bad row(s), listed in {skip_bad}:", err=True)
        click.echo(report.error_text(5), err=True)


@click.command("export-incidents")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="File (default: stdout).")
@click.option("--country", metavar="IRI", help="Only this country's incidents (country:NL).")
@click.option("--product", metavar="IRI",
              help="Only incidents of this product or a narrower one (product:face-mask).")
@pass_context
@fail_on_kb_error
def export_incidents(obj: Context, output: Path | None, country: str | None,
                     product: str | None) -> None:
    """The incident table as CSV (as /incidents.csv serves it): edit it and `kb import` it
    with --mapping incidents; only the edited cells add facts."""
    from kb.incident_table import export_incidents as write

    with obj.kb() as kb:
        if output is None:
            write(kb, sys.stdout, country=country, product=product)
            return
        with writing(output), output.open("w", encoding="utf-8", newline="") as f:
            n = write(kb, f, country=country, product=product)
    click.echo(f"Wrote {n} incident(s) to {output}", err=True)


COMMANDS = [import_, export_incidents]
