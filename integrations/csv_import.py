"""CSV files as bulk batches: the same item specs, the same all-or-nothing rules, errors by line number."""

from __future__ import annotations

import csv
import io

import orjson

from core.errors import InvalidInput
from integrations.validation import Integer, ItemSpec, Object

MAX_CSV_BYTES = 10 * 1024 * 1024


def csv_text(data: bytes) -> str:
    """An uploaded CSV file as text: within the size limit (413 past it) and UTF-8 (a BOM is dropped)."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"The file is {len(data):,} bytes; the limit is {MAX_CSV_BYTES:,}.", status_code=413)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text; export the CSV as UTF-8.") from None


def csv_items(*, data: bytes, spec: ItemSpec) -> tuple[list[dict], list[int]]:
    """Rows of a CSV file (header = field names) as items for `spec`, and the line each row starts on.

    Empty cells are left out, numbers and JSON objects are converted, so the item spec checks them as if
    they came as JSON. Blank lines are skipped and a quoted cell may span lines, so an item's index is not
    its line: the lines are what a person needs to find a bad row.
    """
    reader = csv.reader(io.StringIO(csv_text(data)))
    header = [name.strip() for name in next(reader, [])]
    if not header:
        raise InvalidInput("The file is empty: it needs a header row naming the columns.")
    unknown = [name for name in header if name not in spec.fields]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(unknown)}. Known columns: {', '.join(spec.fields)}.")
    missing = [name for name, field in spec.fields.items() if field.required and name not in header]
    if missing:
        raise InvalidInput(f"Missing required column(s): {', '.join(missing)}.")
    items, lines = [], []
    first_line = reader.line_num + 1
    for cells in reader:
        if cells:
            # A short row leaves its last columns empty, as DictReader would; cells past the header are ignored.
            items.append({name: _convert(spec.fields[name], value.strip())
                          for name, value in zip(header, cells, strict=False) if value.strip()})
            lines.append(first_line)
        first_line = reader.line_num + 1
    return items, lines


def _convert(field, value: str):
    if isinstance(field, Integer):
        try:
            return int(value)
        except ValueError:
            return value  # the spec reports it as "must be a whole number"
    if isinstance(field, Object):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def rows_for_errors(errors: list[dict], lines: list[int]) -> list[dict]:
    """Item errors by CSV line (the header is line 1), from the lines csv_items() returned."""
    return [{"row": None if error.get("index") is None else lines[error["index"]], "field": error.get("field"),
             "message": error["message"]} for error in errors]
