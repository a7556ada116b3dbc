"""How numbers show: one place for money, shares, ratios and years in every output.

The workbook uses the Excel number formats below; the terminal and the HTML pack use the
``fmt_*`` functions, which render the same number the same way ("EUR 5,612.3m",
"12.4 %", "1.42x", "2034"). A value with no answer (NaN, None) shows as "n/a".
"""

from __future__ import annotations

import math
from typing import Any

NA = "n/a"

#: Excel number formats by kind of value.
EXCEL_FORMATS = {
    "eur_m": '#,##0.0,,"m";-#,##0.0,,"m";"–"',
    "eur": '#,##0;-#,##0;"–"',
    "eur_per_unit": '#,##0.00',
    "pct": '0.0%',
    "ratio": '0.00"x"',
    "year": '0',
    "number": '#,##0',
    "yes_no": '"yes";"yes";"no"',
    "decimal": '#,##0.00##',
}

#: What kind of value each KPI is.
KPI_KINDS = {
    "total_capex_eur": "eur_m",
    "refresh_capex_eur": "eur_m",
    "grants_eur": "eur_m",
    "debt_eur": "eur_m",
    "equity_eur": "eur_m",
    "project_npv_eur": "eur_m",
    "project_irr": "pct",
    "equity_npv_eur": "eur_m",
    "equity_irr": "pct",
    "min_dscr": "ratio",
    "avg_dscr": "ratio",
    "llcr": "ratio",
    "payback_year": "year",
    "equity_payback_year": "year",
    "lcoc_eur_per_gpu_hour": "eur_per_unit",
    "breakeven_price_eur_per_gpu_hour": "eur_per_unit",
    "peak_equity_exposure_eur": "eur_m",
    "funding_gap_rate": "pct",
    "funding_gap_grant_eur": "eur_m",
    "funding_gap_eligible_cost_eur": "eur_m",
    "funding_gap_dic_eur": "eur_m",
    "funding_gap_dnr_eur": "eur_m",
    "funding_gap_nominal_discount_rate": "pct",
    "dscr_covenant_breach": "yes_no",
    "lockup_years": "number",
}

KPI_LABELS = {
    "total_capex_eur": "Total initial capex",
    "refresh_capex_eur": "Refresh capex",
    "grants_eur": "Grants",
    "debt_eur": "Senior debt",
    "equity_eur": "Equity (incl. calls)",
    "project_npv_eur": "Project NPV",
    "project_irr": "Project IRR",
    "equity_npv_eur": "Equity NPV",
    "equity_irr": "Equity IRR",
    "min_dscr": "Minimum DSCR",
    "avg_dscr": "Average DSCR",
    "llcr": "LLCR",
    "payback_year": "Project payback year",
    "equity_payback_year": "Equity payback year",
    "lcoc_eur_per_gpu_hour": "Levelized cost of compute (EUR/GPU-h)",
    "breakeven_price_eur_per_gpu_hour": "Break-even launch price (EUR/GPU-h)",
    "peak_equity_exposure_eur": "Peak equity exposure",
    "funding_gap_rate": "EU funding-gap rate",
    "funding_gap_grant_eur": "Grant justified by the funding gap",
    "funding_gap_eligible_cost_eur": "Eligible cost (funding gap)",
    "funding_gap_dic_eur": "Discounted investment cost (funding gap)",
    "funding_gap_dnr_eur": "Discounted net revenue (funding gap)",
    "funding_gap_nominal_discount_rate": "Discount rate of the funding gap (nominal)",
    "dscr_covenant_breach": "DSCR covenant breached",
    "lockup_years": "Years with distributions locked up",
}


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def fmt_eur_m(value: Any) -> str:
    """Money in EUR millions: ``EUR 5,612.3m``."""
    if is_missing(value):
        return NA
    return f"EUR {value / 1e6:,.1f}m"


def fmt_pct(value: Any) -> str:
    """A fraction as a percentage with one decimal: ``12.4 %``."""
    if is_missing(value):
        return NA
    return f"{value * 100:.1f} %"


def fmt_ratio(value: Any) -> str:
    if is_missing(value):
        return NA
    return f"{value:.2f}x"


def fmt_year(value: Any) -> str:
    if is_missing(value):
        return NA
    return f"{int(round(value))}"


def fmt_number(value: Any) -> str:
    if is_missing(value):
        return NA
    return f"{value:,.0f}"


def fmt_unit_price(value: Any) -> str:
    if is_missing(value):
        return NA
    return f"{value:,.2f}"


def fmt_eur_m_cell(value: Any) -> str:
    """Money in EUR millions for a table whose header says "EUR m": ``5,612.3``; zero as ``–``.

    Shows what the workbook's ``eur_m`` format shows, without the unit suffix.
    """
    if is_missing(value):
        return NA
    if value == 0:
        return "–"
    return f"{value / 1e6:,.1f}"


def fmt_input(value: Any, unit: str = "") -> str:
    """An assumption as entered, made readable: fractions as percentages, lists joined.

    ``0.17`` with unit "fraction" shows ``17 %``; ``0.0025`` shows ``0.25 %``;
    ``10_000_000`` shows ``10,000,000``; ``True`` shows ``yes``.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_input(v, unit) for v in value)
    if isinstance(value, str):
        return value
    if is_missing(value):
        return NA
    if unit.startswith("fraction"):
        return f"{value * 100:.4g} %"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def fmt_flag(value: Any) -> str:
    """A 0/1 indicator as "no"/"yes"."""
    if is_missing(value):
        return NA
    return "yes" if value else "no"


FORMATTERS = {
    "yes_no": fmt_flag,
    "eur_m": fmt_eur_m,
    "eur": fmt_number,
    "pct": fmt_pct,
    "ratio": fmt_ratio,
    "year": fmt_year,
    "number": fmt_number,
    "eur_per_unit": fmt_unit_price,
    "decimal": lambda v: NA if is_missing(v) else f"{v:,.4g}",
}


def fmt_kpi(name: str, value: Any) -> str:
    """Format a KPI by its kind (see :data:`KPI_KINDS`)."""
    return FORMATTERS[KPI_KINDS.get(name, "decimal")](value)
