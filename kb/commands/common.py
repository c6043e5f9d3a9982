"""What the ``kb`` commands share: the context that opens the store, the mapping of
``KbError`` to exit code 1, output helpers (tables, JSON, CSV, progress) and options."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import Any

import click

from kb.errors import KbError
from kb.namespaces import PREFIXES, shorten
from kb.settings import Settings
from kb.store import KnowledgeBase

RESULT_CHOICES = ["table", "json", "csv", "tsv", "xml", "turtle", "nt", "jsonld", "rdfxml",
                  "trig", "nq"]


EXPORT_CHOICES = ["trig", "nq", "ttl", "nt", "jsonld", "rdfxml"]


def fail_on_kb_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a KbError into ``Error: message`` on stderr and exit code 1 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KbError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


class Context:
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


pass_context = click.make_pass_decorator(Context)


def read_text(value: str, what: str) -> str:
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
def writing(output: Path) -> Iterator[Path]:
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


def rich_progress() -> tuple[contextlib.AbstractContextManager[Any], Callable[[str, int], Callable[[int], None]]]:  # noqa: E501
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


def show_rows(columns: list[str], rows: list[list[str]], footer: str | None = None) -> None:
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


def emit(rows: list[dict[str, Any]], fmt: str | None) -> None:
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
        show_rows(columns, [[shorten(str(v)) if str(v).startswith("http") else str(v)
                              for v in (row.get(c, "") for c in columns)] for row in rows])


FORMAT_OPTION = click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "csv"]),
                             help="Default: a table on a terminal, else JSON.")


@contextlib.contextmanager
def progress(what: str) -> Iterator[None]:
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


DEPTH_OPTION = click.option("--depth", type=click.IntRange(1, 3), default=1, show_default=True,
                            help="Hops around the entity (1-3).")


#: The old name of --depth in `kb analytics ego`, still accepted.
RADIUS_ALIAS = click.option("--radius", type=click.IntRange(1, 3), hidden=True)


OUTPUT_OPTION = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                             required=True, help="The HTML file to write (opens offline; "
                             "folders are created).")


def write_page(output: Path, html_text: str) -> None:
    with writing(output):
        output.write_text(html_text, encoding="utf-8")
    click.echo(f"Wrote {output}", err=True)
