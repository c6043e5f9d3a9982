"""Excel workbooks (.xlsx) read as tables: one sheet's rows, as text cells, streamed.

openpyxl in read-only mode reads a sheet row by row (constant memory); each cell becomes the
text a CSV of it would hold: numbers without a spurious ``.0`` (``202003``, ``1200``), dates
as ISO days (``2020-03-28``), empty cells as "". Rows are numbered as the sheet numbers them,
so that a bad cell is reported as ``file:sheet:row:column``.

>>> cell_text(202003.0), cell_text(0.5), cell_text(None), cell_text(True)
('202003', '0.5', '', 'true')
>>> from datetime import datetime
>>> cell_text(datetime(2020, 3, 28)), cell_text(datetime(2020, 3, 28, 9, 30))
('2020-03-28', '2020-03-28T09:30:00')
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path

from kb.errors import LoadError

SUFFIXES = (".xlsx", ".xlsm")
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def cell_text(value: object) -> str:
    """A cell's value as the text of a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@contextmanager
def open_sheet(path: Path, sheet: str | None = None
               ) -> Iterator[tuple[str, Iterator[tuple[int, list[str]]]]]:
    """The name of ``sheet`` (default: the first) of the workbook at ``path`` and its rows,
    each as (row number, cells), read as they are used.

    Raises:
        LoadError: not a workbook, or no such sheet (the message lists them).
    """
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise LoadError(f"not an Excel workbook (.xlsx): {e}", path=str(path)) from None
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise LoadError(f"the workbook has no sheet {sheet!r}; it has "
                            f"{', '.join(repr(n) for n in names)}", path=str(path))
        chosen = book[sheet if sheet is not None else names[0]]
        chosen.reset_dimensions()  # some writers record wrong ones: read every row

        def rows() -> Iterator[tuple[int, list[str]]]:
            for number, values in enumerate(chosen.iter_rows(min_row=1, values_only=True), 1):
                yield number, [cell_text(v) for v in values]

        yield chosen.title, rows()
    finally:
        book.close()
