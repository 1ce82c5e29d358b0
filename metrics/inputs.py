"""Inputs that several KPIs of a computation run read, computed once per run.

The engine computes one KPI per statement (so each KPI's errors, transaction and version stay its own), but
KPIs of a family start from the same intermediate result: GRR, NRR, expansion, contraction and both churn rates
from every account's MRR at the window's start and now; stickiness, seat utilisation and feature adoption from
every account's active users in their windows. Hand-written SQL computing them together would share that work
in one statement. Here a calculator names what it shares (`Calculator.inputs`) and reads it through a
placeholder in its query; inside a run (`inputs_shared`) the first KPI needing an input materialises it as a
session temporary table and the others read that table; outside a run the input is inlined as a subquery.

Materialising also buys parallelism: PostgreSQL never gives parallel workers to a statement that writes (each
KPI's statement stores its values), but does to a CREATE TABLE AS; so an expensive scan is an input even when
one KPI reads it (the usage trend's two windows of the rollup).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TypeVar

from django.db import connection

_PARAMETER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class SharedInput:
    """A subquery calculators share, read by writing `placeholder` where a table would go in their query.

    `sql` may use the statement's parameters (%(as_of)s, %(account_ids)s, %(tz)s and the calculator's): KPIs
    binding those the same way share one materialisation. `widens` names a parameter of `sql` that a run may
    bind larger than a calculator needs (a longer history still answers a shorter window): the run binds it to
    the largest `size` any of its KPIs asks for.
    """

    name: str
    sql: str
    widens: str | None = None
    size: int | None = None

    @property
    def placeholder(self) -> str:
        return "{" + self.name + "}"

    def sized(self, size: int) -> SharedInput:
        return replace(self, size=size)


@dataclass
class _Run:
    connection_id: int
    sizes: dict[str, int]
    tables: dict[tuple, str] = field(default_factory=dict)
    values: dict[Hashable, object] = field(default_factory=dict)


_run: ContextVar[_Run | None] = ContextVar("metrics_inputs_shared", default=None)
T = TypeVar("T")


def _current_run() -> _Run | None:
    """The run being computed on this connection, if any (a run on another connection shares nothing)."""
    run = _run.get()
    return run if run is not None and run.connection_id == id(connection.connection) else None


@contextmanager
def inputs_shared(planned: Iterable[SharedInput]) -> Iterator[None]:
    """Share inputs between the KPIs computed inside; `planned`: every input the run's KPIs will ask for, so a
    widening input is made once, for the largest size asked."""
    sizes: dict[str, int] = {}
    for shared in planned:
        if shared.widens and shared.size is not None:
            sizes[shared.sql] = max(sizes.get(shared.sql, 0), shared.size)
    run = _Run(connection_id=id(connection.connection), sizes=sizes)
    token = _run.set(run)
    try:
        yield
    finally:
        _run.reset(token)
        with connection.cursor() as cursor:
            for table in run.tables.values():
                cursor.execute(f"DROP TABLE IF EXISTS {table}")


def input_relation(shared: SharedInput, params: dict) -> tuple[str, dict]:
    """What to read `shared` from: the run's table (made now if it is the first KPI to ask) or the subquery
    itself; and the statement's parameters with the input's size. Called outside the KPI's own transaction, so
    a KPI that fails and rolls back does not take the run's table with it."""
    if shared.widens:
        params = {**params, shared.widens: shared.size}
    run = _current_run()
    if run is None:
        return f"({shared.sql})", params
    bound = dict(params)
    if shared.widens:
        bound[shared.widens] = max(shared.size or 0, run.sizes.get(shared.sql, 0))
    key = (shared.sql, *((name, repr(bound[name])) for name in sorted(set(_PARAMETER.findall(shared.sql)))))
    table = run.tables.get(key)
    if table is None:
        table = f"metrics_run_input_{len(run.tables) + 1}"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {shared.sql}", bound)
        run.tables[key] = table
    return table, params


def shared_value(key: Hashable, make: Callable[[], T]) -> T:
    """A value computed in Python that several KPIs of a run read (the predictive KPIs' account features):
    made by the first KPI asking inside a run, then reused by the others; outside a run, made every time.
    `key` must name everything the value depends on: the run reads the same data throughout."""
    run = _current_run()
    if run is None:
        return make()
    if key not in run.values:
        run.values[key] = make()
    return run.values[key]  # type: ignore[return-value]


def run_table(prefix: str) -> str | None:
    """The name of a temporary table a calculator may fill for its statement, dropped when the run ends (the
    run's inputs are); None outside a run, where the caller passes its rows another way."""
    run = _current_run()
    if run is None:
        return None
    name = f"metrics_run_{prefix}_{len(run.tables) + 1}"
    run.tables[("table", name)] = name
    return name
