"""A strict CSV reader for imports: RFC 4180 quoting, one cell per column of the header, and every problem
named by the line a person sees in an editor (the header is line 1).

Python's csv module is lenient by default: a quote left open swallows every following line into one cell,
so a stray quote silently merges rows (or, on a large file, runs into the field-size limit). Here a
quoted cell must close properly, a newline may only appear inside a quoted cell, and a row whose number of
cells differs from the header is refused, so a quoting mistake cannot pass as data.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from core.errors import InvalidInput
from integrations.validation import Field, Integer, ItemSpec, Object

# A line longer than this is not a row of a spreadsheet export (a binary file, or a file with no newlines).
MAX_LINE_BYTES = 1024 * 1024
# How many row problems an answer lists; the count covers them all.
MAX_LISTED_PROBLEMS = 100
# A lone carriage return ends a line too (old spreadsheet exports), as an editor shows it.
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


@dataclass(frozen=True)
class CsvRow:
    """One data row: the line it starts on and its non-empty cells, converted for the item spec."""

    line: int
    item: dict


def _text_lines(binary: IO[bytes]) -> Iterator[str]:
    """The file's lines as UTF-8 text (a byte order mark is dropped), with their line endings.

    Decoded line by line, so a byte that is not UTF-8 is reported on its own line, and read with a cap, so a
    file without line breaks cannot be read whole into memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = 0
    while True:
        raw = binary.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InvalidInput(f"Line {number} is longer than {MAX_LINE_BYTES:,} bytes: is this a CSV file?",
                               [{"row": number, "field": None, "message": "is too long for a row of a CSV file"}])
        try:
            text = decoder.decode(raw)
        except UnicodeDecodeError:
            raise _not_utf8(number) from None
        if "\r" in text:
            pieces = _LONE_CR.split(text)
            number += len(pieces) - 1
            yield from pieces
        else:
            yield text
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _not_utf8(max(number, 1)) from None


def _not_utf8(line: int) -> InvalidInput:
    return InvalidInput("The file is not UTF-8 text; export the CSV as UTF-8.",
                        [{"row": line, "field": None, "message": "is not UTF-8 text"}])


def _quoting_problem(error: csv.Error, start: int, end: int) -> InvalidInput:
    """A csv.Error in words, naming the line where the faulty row starts."""
    reason = str(error)
    if reason.startswith("field larger than field limit"):
        message = (f"a cell is longer than {csv.field_size_limit():,} characters: most likely a quote opened "
                   "on this line is never closed")
    elif reason == "unexpected end of data":
        message = "a quote opened on this line is never closed, so every line after it would merge into one cell"
    elif start < end:
        message = (f"a quote opened on this line is not closed properly before line {end}, so lines {start}-{end} "
                   "would merge into one row")
    else:
        message = "a quoted cell is not closed properly (a quote inside a cell must be doubled: \"\")"
    return InvalidInput(f"Line {start}: {message}. Put quotes around whole cells only and double any quote "
                        "inside a cell; nothing was stored.", [{"row": start, "field": None, "message": message}])


def _header(cells: list[str]) -> list[str]:
    header = [name.strip() for name in cells]
    if not any(header):
        raise InvalidInput("The file is empty: it needs a header row naming the columns.")
    blank = [str(position) for position, name in enumerate(header, start=1) if not name]
    if blank:
        raise InvalidInput(f"Column(s) {', '.join(blank)} of the header have no name: every column needs one.")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InvalidInput(f"Column(s) named more than once in the header: {', '.join(repeated)}.")
    return header


@dataclass(frozen=True)
class CsvRecord:
    """One data record: the line it starts on and its cells, one per column of the header."""

    line: int
    cells: list[str]


@dataclass(frozen=True)
class CsvTable:
    header: list[str]
    records: Iterator[CsvRecord]


def csv_table(binary: IO[bytes], *, max_rows: int) -> CsvTable:
    """A CSV file read strictly (see the module): its header (names stripped, each column named once) at once,
    and its data records as they are read. Blank lines and rows of empty cells are skipped. A quoting mistake
    stops the reading with an InvalidInput naming its line; rows with the wrong number of cells are all listed
    (InvalidInput after the last record); more than `max_rows` records is a 413."""
    reader = csv.reader(_text_lines(binary), strict=True)
    try:
        cells = next(reader, [])
    except csv.Error as error:
        raise _quoting_problem(error, 1, reader.line_num) from None
    header = _header(cells)
    return CsvTable(header, _records(reader, len(header), max_rows))


def _records(reader, columns: int, max_rows: int) -> Iterator[CsvRecord]:
    problems: list[dict] = []
    count = wrong = 0
    start = reader.line_num + 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not "".join(cells).strip():
                continue
            if len(cells) != columns:
                wrong += 1
                if wrong <= MAX_LISTED_PROBLEMS:
                    problems.append(_cell_count_problem(len(cells), columns, line, reader.line_num))
                continue
            count += 1
            if count > max_rows:
                raise InvalidInput(f"The file has more than {max_rows:,} rows; an import takes at most "
                                   f"{max_rows:,}. Split it into files of that size.", status_code=413)
            yield CsvRecord(line, cells)
    except csv.Error as error:
        raise _quoting_problem(error, start, reader.line_num) from None
    if wrong:
        raise InvalidInput(f"{wrong:,} row(s) do not have one cell per column of the header ({columns}); "
                           "nothing was stored.", problems)


def csv_rows(binary: IO[bytes], *, spec: ItemSpec, max_rows: int) -> Iterator[CsvRow]:
    """The data rows of a CSV file whose header names fields of `spec`, read strictly (csv_table).

    Empty cells are left out and numbers and JSON objects converted, so the item spec checks a row as if it
    came as JSON.
    """
    table = csv_table(binary, max_rows=max_rows)
    unknown = [name for name in table.header if name not in spec.fields]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(unknown)}. Known columns: {', '.join(spec.fields)}.")
    missing = [name for name, field in spec.fields.items() if field.required and name not in table.header]
    if missing:
        raise InvalidInput(f"Missing required column(s): {', '.join(missing)}.")
    columns = [(name, csv_cell_converter(spec.fields[name])) for name in table.header]
    for record in table.records:
        item = {}
        for (name, convert), cell in zip(columns, record.cells, strict=True):
            if cell := cell.strip():
                item[name] = convert(cell)
        yield CsvRow(record.line, item)


def _cell_count_problem(cells: int, columns: int, line: int, last_line: int) -> dict:
    message = f"has {cells} cell(s) where the header has {columns} column(s)"
    if last_line > line:
        message += f"; a quoted cell runs from line {line} to line {last_line}: check its quotes"
    return {"row": line, "field": None, "message": message}


def csv_cell_converter(field: Field) -> Callable[[str], Any]:
    """How a column's cells become what its item field expects (a cell that does not convert stays text, and
    the spec reports it, e.g. "must be a whole number")."""
    if isinstance(field, Integer):
        return _whole_number
    if isinstance(field, Object):
        return _json_object
    return str


def _whole_number(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        return cell


def _json_object(cell: str) -> Any:
    try:
        return orjson.loads(cell)
    except orjson.JSONDecodeError:
        return cell
