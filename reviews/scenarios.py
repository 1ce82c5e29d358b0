"""Scenarios for finance, as arithmetic with no Django: move the drivers (GRR, expansion, logo churn,
activation, new ARR, cost to serve, ticket load) and see ARR, NRR, LTV, margin and the support and CSM hours
they imply over the next quarters, beside today's trajectory. Every number carries the sum that made it, so a
finance reader can redo it by hand (docs/scenarios.md)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

QUARTERS = 4
# Working hours in a quarter for one full-time person (13 weeks x 37 hours, less holidays): the FTE divisor.
HOURS_PER_FTE_QUARTER = 440.0


@dataclass(frozen=True)
class Drivers:
    """What a leader moves. Rates are annual percentages; money is in the tenant's currency."""

    grr: float  # gross revenue retention of the existing book, % a year
    expansion: float  # expansion of the existing book, % of its ARR a year
    logo_churn: float  # accounts lost, % a year
    activation_rate: float  # % of new accounts that activate; the rest leave in the quarter after they start
    new_arr: float  # new business booked per quarter
    cost_to_serve: float  # per account per year
    ticket_growth: float = 0.0  # change in tickets per account, % a quarter

    def problems(self) -> dict[str, str]:
        """Field -> why it is out of range; empty when the drivers can be projected."""
        found = {}
        for name, low, high in (("grr", 0, 100), ("expansion", 0, 500), ("logo_churn", 0, 100),
                                ("activation_rate", 0, 100), ("ticket_growth", -100, 500)):
            if not low <= getattr(self, name) <= high:
                found[name] = f"Between {low} and {high}."
        for name in ("new_arr", "cost_to_serve"):
            if getattr(self, name) < 0:
                found[name] = "Not negative."
        return found

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        return [item.name for item in fields(cls)]


@dataclass(frozen=True)
class Baseline:
    """Where the tenant stands today, from its own data (reviews.scenario_inputs)."""

    arr: float
    accounts: int
    tickets_per_account: float  # tickets opened per account in the last quarter
    handling_hours_per_ticket: float
    accounts_per_csm: float  # today's book size
    as_of: str = ""
    sources: dict[str, str] = field(default_factory=dict)  # driver -> where today's value came from

    @property
    def arpa(self) -> float:
        return self.arr / self.accounts if self.accounts else 0.0


@dataclass(frozen=True)
class Quarter:
    number: int
    arr: float
    accounts: float
    nrr: float  # annual, % (GRR + expansion)
    revenue: float  # the quarter's recognised revenue: a quarter of the average ARR
    margin: float
    margin_percent: float | None
    ltv: float | None
    support_hours: float
    csm_hours: float
    support_fte: float
    csms: float
    arithmetic: list[str]


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _finite(value: float | None) -> float | None:
    """A ratio whose divisor is next to nothing (a logo churn of 1e-300 %, revenue of a fraction of a cent)
    overflows to infinity, which no reader can use and JSON cannot carry: it has no value, like a zero divisor."""
    return value if value is not None and math.isfinite(value) else None


def project(drivers: Drivers, baseline: Baseline, quarters: int = QUARTERS) -> list[Quarter]:
    """Quarter by quarter from today's ARR and accounts:

    lost = ARR x (100 - GRR)% / 4; expanded = ARR x expansion% / 4; new = new ARR; new accounts = new ARR /
    today's ARPA; of the previous quarter's new accounts, (100 - activation)% leave now, with their ARR;
    accounts lost to churn = accounts x logo churn% / 4. Revenue is a quarter of the average of the opening and
    closing ARR; margin = revenue - accounts x cost to serve / 4; LTV = ARPA x margin% / logo churn% (annual).
    Support hours = accounts x tickets per account (growing by ticket growth% a quarter) x handling hours; CSM
    hours = accounts / today's book size x HOURS_PER_FTE_QUARTER.
    """
    arr, accounts, rows = baseline.arr, float(baseline.accounts), []
    arpa = baseline.arpa
    previous_new_arr = previous_new_accounts = 0.0
    tickets = baseline.tickets_per_account
    for number in range(1, quarters + 1):
        lost = arr * (100 - drivers.grr) / 100 / 4
        expanded = arr * drivers.expansion / 100 / 4
        new_accounts = drivers.new_arr / arpa if arpa else 0.0
        unactivated = (100 - drivers.activation_rate) / 100
        early_arr, early_accounts = previous_new_arr * unactivated, previous_new_accounts * unactivated
        churned_accounts = accounts * drivers.logo_churn / 100 / 4
        closing = arr - lost + expanded + drivers.new_arr - early_arr
        closing_accounts = max(0.0, accounts - churned_accounts + new_accounts - early_accounts)
        revenue = (arr + closing) / 2 / 4
        cost = closing_accounts * drivers.cost_to_serve / 4
        margin = revenue - cost
        margin_percent = _finite(margin / revenue * 100 if revenue else None)
        closing_arpa = closing / closing_accounts if closing_accounts else 0.0
        ltv = _finite(closing_arpa * margin_percent / drivers.logo_churn
                      if drivers.logo_churn and margin_percent is not None else None)
        tickets *= 1 + drivers.ticket_growth / 100
        support_hours = closing_accounts * tickets * baseline.handling_hours_per_ticket
        csms = closing_accounts / baseline.accounts_per_csm if baseline.accounts_per_csm else 0.0
        arithmetic = [
            f"ARR {_money(arr)} - lost {_money(arr)} x {100 - drivers.grr:g}% / 4 = {_money(lost)} "
            f"+ expansion {_money(arr)} x {drivers.expansion:g}% / 4 = {_money(expanded)} "
            f"+ new {_money(drivers.new_arr)} "
            f"- not activated {_money(previous_new_arr)} x {100 - drivers.activation_rate:g}% = {_money(early_arr)} "
            f"= {_money(closing)}",
            f"accounts {accounts:,.1f} - churn {accounts:,.1f} x {drivers.logo_churn:g}% / 4 = {churned_accounts:,.1f} "
            f"+ new {_money(drivers.new_arr)} / ARPA {_money(arpa)} = {new_accounts:,.1f} "
            f"- not activated {early_accounts:,.1f} = {closing_accounts:,.1f}",
            f"revenue ({_money(arr)} + {_money(closing)}) / 2 / 4 = {_money(revenue)}; margin {_money(revenue)} - "
            f"{closing_accounts:,.1f} x {_money(drivers.cost_to_serve)} / 4 = {_money(margin)}",
            (f"LTV = ARPA {_money(closing_arpa)} x margin {margin_percent:.1f}% / churn {drivers.logo_churn:g}% "
             f"= {_money(ltv)}") if ltv is not None
            else "LTV: no churn or no revenue (or next to none), so no lifetime to value",
            f"support {closing_accounts:,.1f} accounts x {tickets:.2f} tickets x "
            f"{baseline.handling_hours_per_ticket:.2f} h = {support_hours:,.0f} h; CSMs {closing_accounts:,.1f} / "
            f"{baseline.accounts_per_csm:,.1f} accounts each = {csms:.1f}",
        ]
        rows.append(Quarter(number=number, arr=closing, accounts=closing_accounts,
                            nrr=drivers.grr + drivers.expansion, revenue=revenue, margin=margin,
                            margin_percent=margin_percent, ltv=ltv, support_hours=support_hours,
                            csm_hours=csms * HOURS_PER_FTE_QUARTER, support_fte=support_hours / HOURS_PER_FTE_QUARTER,
                            csms=csms, arithmetic=arithmetic))
        arr, accounts = closing, closing_accounts
        previous_new_arr, previous_new_accounts = drivers.new_arr, new_accounts
    return rows
