"""CSV files as bulk batches: the same item specs, the same all-or-nothing rules, errors by line number."""

from __future__ import annotations

import csv
import io

import orjson

from integrations.validation import Integer, InvalidInput, ItemSpec, Object

MAX_CSV_BYTES = 10 * 1024 * 1024


def csv_items(*, data: bytes, spec: ItemSpec) -> list[dict]:
    """Rows of a CSV file (header = field names) as items for `spec`: empty cells are left out, numbers
    and JSON objects are converted, so the item spec checks them as if they came as JSON."""
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"The file is {len(data):,} bytes; the limit is {MAX_CSV_BYTES:,}.", status_code=413)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text; export the CSV as UTF-8.") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidInput("The file is empty: it needs a header row naming the columns.")
    header = [name.strip() for name in reader.fieldnames]
    unknown = [name for name in header if name not in spec.fields]
    if unknown:
        raise InvalidInput(f"Unknown column(s): {', '.join(unknown)}. Known columns: {', '.join(spec.fields)}.")
    missing = [name for name, field in spec.fields.items() if field.required and name not in header]
    if missing:
        raise InvalidInput(f"Missing required column(s): {', '.join(missing)}.")
    items = []
    for row in reader:
        item = {}
        for name, value in zip(header, (row.get(key) for key in reader.fieldnames), strict=True):
            if value is None or value.strip() == "":
                continue
            item[name] = _convert(spec.fields[name], value.strip())
        items.append(item)
    return items


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


def rows_for_errors(errors: list[dict]) -> list[dict]:
    """Item errors renumbered as CSV lines: item 0 is line 2, after the header."""
    return [{"row": None if error.get("index") is None else error["index"] + 2, "field": error.get("field"),
             "message": error["message"]} for error in errors]
