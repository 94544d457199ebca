"""The CSV format of imports and exports, as pure functions (see docs/csv-format.md).

One row per post. Columns (header names are case-insensitive, order is free):
``date`` ``time`` ``zone`` ``channels`` ``title`` ``text`` ``text_<network>``
``text@<channel>`` ``labels`` ``plan`` ``status`` ``link``. Only ``title`` must be
present; a missing column is empty in every row.

Formula injection: a cell that a spreadsheet would run as a formula (it starts with
``= + - @``, a tab or a carriage return, possibly after quotes) is written with one
more leading ``'``; reading strips exactly that one quote again, so a round trip
gives back the text as it was.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from app.networks.base import Network

BASE_COLUMNS = ("date", "time", "zone", "channels", "title", "text")
TAIL_COLUMNS = ("labels", "plan", "status", "link")
NETWORK_PREFIX = "text_"
CHANNEL_PREFIX = "text@"
SEPARATOR = "|"
REQUIRED = ("title",)

_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def network_column(network: Network) -> str:
    return f"{NETWORK_PREFIX}{network.value}"


def escape_cell(value: str) -> str:
    """What to write for ``value`` so that no spreadsheet runs it as a formula."""
    return "'" + value if _FORMULA.match(value) else value


def unescape_cell(value: str) -> str:
    """The inverse of :func:`escape_cell`."""
    return value[1:] if value.startswith("'") and _FORMULA.match(value) else value


def split_list(value: str) -> list[str]:
    """``"a | b||c"`` → ``["a", "b", "c"]``."""
    return [item.strip() for item in value.split(SEPARATOR) if item.strip()]


@dataclass(frozen=True, slots=True)
class Cell:
    """A problem in the file: ``row`` as a spreadsheet numbers it (the header is row 1)."""

    row: int
    column: str
    message: str
    network: str | None = None


@dataclass
class Sheet:
    """A parsed file: its columns and its non-blank rows, cells unescaped and stripped
    of surrounding spaces (except ``text`` columns, kept as written)."""

    columns: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[Cell] = field(default_factory=list)


def _known(column: str) -> bool:
    if column in BASE_COLUMNS or column in TAIL_COLUMNS:
        return True
    if column.startswith(NETWORK_PREFIX):
        return column[len(NETWORK_PREFIX) :] in {n.value for n in Network}
    return column.startswith(CHANNEL_PREFIX) and len(column) > len(CHANNEL_PREFIX)


def _is_text(column: str) -> bool:
    return column == "text" or column.startswith((NETWORK_PREFIX, CHANNEL_PREFIX))


def read_sheet(data: bytes) -> Sheet:
    """Decode and split a CSV file. Problems with the file as a whole (encoding, header)
    are reported on row 1 and leave ``rows`` empty."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Sheet(
            [],
            problems=[
                Cell(1, "file", f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")
            ],
        )
    if "\x00" in text:
        return Sheet([], problems=[Cell(1, "file", "the file holds NUL bytes: it is not CSV text")])
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return Sheet([], problems=[Cell(1, "header", f"the header row cannot be read: {exc}")])
    if header is None or not any(cell.strip() for cell in header):
        return Sheet([], problems=[Cell(1, "header", "the file is empty: it needs a header row")])
    columns: list[str] = []
    problems: list[Cell] = []
    for cell in header:
        raw = unescape_cell(cell.strip())
        name = raw if raw.lower().startswith(CHANNEL_PREFIX) else raw.lower()
        if name.lower().startswith(CHANNEL_PREFIX):
            name = CHANNEL_PREFIX + name[len(CHANNEL_PREFIX) :].strip()
        if not name:
            problems.append(Cell(1, "header", "a column has no name"))
        elif not _known(name):
            problems.append(Cell(1, name, _unknown_column(name)))
        elif name in columns:
            problems.append(Cell(1, name, "this column appears twice"))
        columns.append(name)
    for required in REQUIRED:
        if required not in columns:
            problems.append(Cell(1, required, f"the header needs a {required!r} column"))
    sheet = Sheet(columns, problems=problems)
    if problems:
        return sheet
    row_number = 1
    try:
        for cells in reader:
            row_number += 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                sheet.problems.append(
                    Cell(
                        row_number,
                        "row",
                        f"this row has {len(cells)} cells but the header names {len(columns)} "
                        "columns (an unquoted comma in a text?)",
                    )
                )
                continue
            values = {}
            for column, cell in zip(columns, cells, strict=False):
                value = unescape_cell(cell if _is_text(column) else cell.strip())
                values[column] = value
            sheet.rows.append((row_number, values))
    except csv.Error as exc:
        sheet.problems.append(Cell(row_number + 1, "row", f"this row cannot be read: {exc}"))
    return sheet


def _unknown_column(name: str) -> str:
    if name.startswith(NETWORK_PREFIX):
        networks = ", ".join(network_column(n) for n in Network)
        return f"no network is called {name[len(NETWORK_PREFIX) :]!r}; use one of {networks}"
    known = ", ".join([*BASE_COLUMNS, "text_<network>", "text@<channel>", *TAIL_COLUMNS])
    return f"unknown column; the columns are {known}"


def write_lines(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    """CSV text, a line (or a few) at a time, every cell escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([escape_cell(cell) for cell in row])
        yield buffer.getvalue()
