"""docs/metrics.md, the users' definition of every KPI, stays in step with the code: every registered calculator
has its section, named as the calculator is, with each parameter and its default; and the default catalogue's
table says exactly what metrics/catalogue.py installs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metrics.calculators import REGISTRY
from metrics.catalogue import CATALOGUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
HEADING = re.compile(r"^#### (?P<name>.+) — `(?P<id>[a-z_]+\.[a-z_]+)`$")
NONE = "—"


def _sections() -> dict[str, tuple[str, list[str]]]:
    """Each calculator section: id -> (the name its heading gives, its lines up to the next heading)."""
    sections: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in DOC.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            current = []
            sections[heading["id"]] = (heading["name"], current)
        elif line.startswith("#"):
            current = None
        elif current is not None:
            current.append(line)
    return sections


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _parameters(lines: list[str]) -> dict[str, str]:
    """The section's parameter table: name -> its default as written."""
    return {cells[0].strip("`"): cells[1] for cells in map(_cells, lines)
            if len(cells) == 4 and cells[0].startswith("`")}


def _written(default) -> str:
    """A default as the page writes it: 12, 0.8, logo, `a, b` for a list, `usage-trend 2, ...` for components."""
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "yes" if default else "no"
    if isinstance(default, int | float):
        return f"{default:g}"
    if isinstance(default, dict):
        return ", ".join(f"{key} {_written(value)}" for key, value in default.items()) or "none"
    if isinstance(default, list):
        return ", ".join(f"{item['kpi']} {_written(item['weight'])}" if isinstance(item, dict) else str(item)
                         for item in default)
    return str(default)


def test_every_calculator_has_a_section_and_every_section_a_calculator():
    assert sorted(_sections()) == sorted(REGISTRY)


@pytest.mark.parametrize("calculator_id", sorted(REGISTRY))
def test_each_calculator_section_names_it_and_gives_every_parameter_with_its_default(calculator_id):
    calculator = REGISTRY[calculator_id]
    name, lines = _sections()[calculator_id]

    assert name == calculator.name
    documented = _parameters(lines)
    assert sorted(documented) == sorted(calculator.params)
    assert documented == {param: _written(spec.default) for param, spec in calculator.params.items()}


def _catalogue_rows() -> list[list[str]]:
    lines = DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| slug | name | calculator |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(_cells(line))
    return rows


def _expected_row(entry) -> list[str]:
    params = ", ".join(f"{key}={_written(value)}" for key, value in entry.params.items()) or NONE
    return [f"`{entry.slug}`", entry.name, f"`{entry.calculator}`", str(entry.tier), str(entry.indicator),
            str(entry.unit), str(entry.direction), params, str(entry.cadence), ", ".join(map(str, entry.scopes)),
            NONE if entry.poor is None else _written(entry.poor), NONE if entry.good is None else _written(entry.good),
            _written(entry.core)]


def test_the_catalogue_table_is_the_catalogue_the_code_installs():
    assert _catalogue_rows() == [_expected_row(entry) for entry in CATALOGUE]
