"""The investor pack: one self-contained HTML file and its PDF twin.

This module lays out a run; it computes nothing about the business case. It turns the
base-case line items, the results document and, where present, the Monte Carlo,
scenario and sensitivity results into display strings (through :mod:`bizcase.formatting`,
shared with the workbook) and charts (:mod:`bizcase.charts`), and renders
``templates/pack.html.j2``.

Conventions
-----------
- Money in tables and charts is EUR millions, nominal; cash in positive, cash out
  negative. KPIs show as in the workbook ("EUR 5,612.3m", "12.4 %", "1.42x").
- A value with no answer shows "n/a" with the reason from ``doc["notes"]``; never 0 or
  blank. Missing analyses (Monte Carlo, scenarios, sensitivity) are said so in words.
- The HTML fetches nothing: CSS inline, charts inline SVG, a Content-Security-Policy
  that forbids scripts and every network source. Text from the assumptions is escaped
  by jinja2 (autoescape) and by matplotlib inside the SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from bizcase import assumptions, formatting, resources
from bizcase.formatting import (
    NA,
    fmt_eur_m,
    fmt_eur_m_cell,
    fmt_input,
    fmt_kpi,
    fmt_number,
    fmt_pct,
)
from bizcase.results import NA_REASONS

TEMPLATE = "pack.html.j2"

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

#: KPIs on the cover, in order.
HEADLINE = (
    "project_npv_eur", "project_irr", "equity_irr", "min_dscr",
    "total_capex_eur", "grants_eur", "debt_eur", "breakeven_price_eur_per_gpu_hour",
)

#: Names of Monte Carlo percentile bands, as shown.
BAND_LABELS = {
    "market_utilization": ("Market utilization", "Market utilization [%]", True),
    "revenue_eur": ("Revenue", "Revenue [EUR m]", False),
    "cfads_eur": ("Cash flow available for debt service (CFADS)", "CFADS [EUR m]", False),
    "equity_cash_flow_eur": ("Equity cash flow", "Equity cash flow [EUR m]", False),
    "project_cash_flow_eur": ("Project cash flow", "Project cash flow [EUR m]", False),
    "ebitda_eur": ("EBITDA", "EBITDA [EUR m]", False),
}

#: Short names of inputs whose schema description reads badly in a chart.
INPUT_LABELS = {
    "capex.overrun": "Capex overrun (share of all capex)",
    "revenue.launch_price_eur_per_gpu_hour": "Launch price of a GPU-hour (operating year 1)",
    "utilization.plateau": "Market utilization at maturity",
    "utilization.midpoint_year": "Midpoint of the utilization ramp (operating year)",
    "revenue.price_decline": "Price decline per year of a cohort's age",
    "opex.power_price_eur_per_mwh": "Market power price (operating year 1)",
}

PROBABILITIES = (
    ("prob_project_npv_negative", "Project NPV below zero"),
    ("prob_equity_irr_below_hurdle", "Equity IRR below the cost of equity"),
    ("prob_dscr_covenant_breach", "DSCR covenant breached in at least one year"),
    ("prob_distribution_lockup", "Distributions locked up in at least one year"),
)

CHECK_LABELS = {
    "sources_equal_uses": "Sources equal uses in every year",
    "debt_balance_non_negative": "Debt balance never negative",
    "debt_repaid_by_maturity": "Debt repaid by maturity",
    "partner_flows_sum_to_equity": "Partner flows sum to the equity flows",
    "cash_never_negative": "Cash balance never negative",
    "dsra_at_target": "Debt service reserve at target, released by the end",
    "grants_within_caps": "Grants within their caps",
}

MANIFEST_LABELS = {
    "bizcase_version": "bizcase version",
    "assumptions_file": "Assumptions file",
    "assumptions_sha256": "Assumptions SHA-256",
    "scenario": "Scenario",
    "overrides": "Overrides (--set)",
    "seed": "Random seed",
    "simulations": "Monte Carlo paths",
    "sampling": "Sampling",
    "utc_timestamp": "Run at (UTC)",
    "python_version": "Python",
    "numpy_version": "numpy",
}

SECTION_TITLES = {
    "project": "Project and timeline",
    "site": "Site and capacity",
    "capex": "Capital expenditure",
    "public_access": "Public access",
    "revenue": "Market price",
    "utilization": "Market utilization ramp",
    "opex": "Operating costs and power",
    "tax": "Tax",
    "funding_gap": "EU funding-gap method",
    "grants": "Grants",
    "customers": "Anchor customers",
    "debt": "Senior debt",
    "partners": "Equity partners",
}


# --- entry points ---------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    """The jinja2 environment of the pack: autoescape on, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def html_bytes(run: Any) -> bytes:
    """The investor pack of a run as one self-contained UTF-8 HTML document.

    Parameters
    ----------
    run : pipeline.Run
        ``run.result`` (the base case), ``run.doc`` (the results document).

    Returns
    -------
    bytes
    """
    html = environment().get_template(TEMPLATE).render(**context(run))
    return html.encode("utf-8")


class _NoNetwork:
    """A WeasyPrint URL fetcher that refuses every URL: the pack must need none."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        raise ValueError(f"the investor pack fetches nothing (refused {url[:80]!r})")


def pdf_bytes(html: bytes) -> bytes:
    """The PDF twin of the pack (A4, WeasyPrint), rendered without any network access."""
    import weasyprint

    fetcher: Any
    base = getattr(weasyprint, "URLFetcher", None)
    if base is not None:
        fetcher = type("NoNetworkFetcher", (_NoNetwork, base), {})()
    else:  # older WeasyPrint takes a function

        def fetcher(url: str) -> Any:
            return _NoNetwork().fetch(url)

    document = weasyprint.HTML(string=html.decode("utf-8"), url_fetcher=fetcher, base_url=None)
    return bytes(document.write_pdf())


# --- context --------------------------------------------------------------------------------


def context(run: Any) -> dict[str, Any]:
    """Everything the template shows, as display strings, rows and SVG charts."""
    view = _View(run)
    return {
        "csp": CSP,
        "project": view.project(),
        "alerts": view.alerts(),
        "summary": view.summary(),
        "funding": view.funding(),
        "business": view.business(),
        "power": view.power(),
        "cash": view.cash_flows(),
        "financing": view.financing(),
        "partners": view.partners(),
        "risk": view.risk(),
        "scenarios": view.scenarios(),
        "assumptions": view.assumptions(),
        "method": view.method(),
        "checks": view.checks(),
        "manifest": view.manifest(),
    }


def _finite(value: Any) -> bool:
    return not formatting.is_missing(value)


def _chart(svg: str, title: str, caption: str = "") -> dict[str, Any]:
    # The SVG is produced by bizcase.charts from numbers and labels that matplotlib escapes.
    return {"svg": Markup(svg), "title": title, "caption": caption}


def _millions(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float) / 1e6


def _value(text: str, note: str = "") -> dict[str, str]:
    """A table cell: its text and, for "n/a", why."""
    return {"text": text, "note": note if text == NA else ""}


class _View:
    """Reads one run and prepares each section of the pack."""

    def __init__(self, run: Any):
        self.run = run
        self.doc: dict[str, Any] = run.doc
        self.res = run.result
        self.case = self.res.case
        self.data = self.case.data
        self.tl = self.res.timeline
        self.years = [int(y) for y in self.tl.years]
        self.kpis: dict[str, Any] = self.doc.get("kpis", {})
        self.notes: dict[str, str] = self.doc.get("notes", {})
        mc = self.doc.get("monte_carlo")
        self.mc: Mapping[str, Any] | None = mc if isinstance(mc, Mapping) and mc else None
        self.op = [t for t in range(self.tl.n_periods) if self.tl.is_operation[t]]
        self.op_years = [self.years[t] for t in self.op]
        self.histogram_notes: list[str] = []

    # helpers

    def line(self, name: str) -> np.ndarray:
        """Base-case line item, shape (T,)."""
        return np.asarray(self.res.line(name)[0], dtype=float)

    def total(self, name: str, mask: Sequence[bool] | np.ndarray | None = None) -> float:
        v = self.line(name)
        return float(np.sum(v if mask is None else v[np.asarray(mask, dtype=bool)]))

    def kpi_cell(self, name: str) -> dict[str, str]:
        value = self.kpis.get(name)
        text = _fmt_kpi(name, value)
        return _value(text, self.notes.get(name, NA_REASONS.get(name, "no answer")))

    def mc_kpi(self, name: str) -> Mapping[str, Any] | None:
        if self.mc is None:
            return None
        stats = self.mc.get("kpis", {}).get(name)
        return stats if isinstance(stats, Mapping) else None

    def mc_absent_reason(self) -> str:
        sims = self.doc.get("manifest", {}).get("simulations")
        if not sims:
            return "Monte Carlo not run: --simulations 0."
        return "Monte Carlo results are not available for this run."

    def input_label(self, path: str) -> str:
        if path in INPUT_LABELS:
            return INPUT_LABELS[path]
        f = assumptions.field_of(path)
        name = self._item_name(path)
        if f is not None and f.doc:
            return f"{f.doc}{f' ({name})' if name else ''}"
        return path

    def _item_name(self, path: str) -> str:
        parts = path.split(".")
        if len(parts) == 3 and parts[1].isdigit() and parts[0] in self.data:
            items = self.data[parts[0]]
            if int(parts[1]) < len(items):
                return str(items[int(parts[1])].get("name", ""))
        return ""

    @property
    def covenant(self) -> float:
        return min((t.min_dscr_covenant for t in self.res.debt.tranches), default=math.nan)

    # sections

    def project(self) -> dict[str, Any]:
        manifest = self.doc.get("manifest", {})
        stamp = str(manifest.get("utc_timestamp") or "")
        p = self.data["project"]
        scenario = str(manifest.get("scenario") or self.case.scenario)
        return {
            "name": str(p["name"]),
            "date": stamp[:10] or NA,
            "scenario": scenario,
            "subtitle": (
                f"Business case and investor pack · {self.years[0]}–{self.years[-1]} · "
                f"{int(p['construction_years'])} construction and {int(p['operating_years'])} operating years"
            ),
            "facts": [
                ("Accelerators", fmt_number(self.data["site"]["gpus"])),
                ("Total initial capex", fmt_eur_m(self.kpis.get("total_capex_eur"))),
                ("Partners", str(len(self.data["partners"]))),
                ("Scenario", scenario),
                ("Assumptions", PurePath(str(manifest.get("assumptions_file") or self.case.file)).name),
            ],
        }

    def alerts(self) -> list[str]:
        out = []
        for check in self.doc.get("checks", []):
            if not check.get("passed"):
                name = CHECK_LABELS.get(check["name"], check["name"])
                out.append(
                    f"Integrity check failed: {name} (worst deviation EUR {check.get('worst_deviation', 0):,.2f}). "
                    "Do not rely on the figures of this pack."
                )
        return out

    def summary(self) -> dict[str, Any]:
        headline = []
        for name in HEADLINE:
            if name not in self.kpis:
                continue
            cell = self.kpi_cell(name)
            stats = self.mc_kpi(name)
            band = ""
            if stats is not None:
                band = " · ".join(f"{p.upper()} {fmt_kpi(name, stats.get(p))}" for p in ("p10", "p50", "p90"))
            headline.append({"label": formatting.KPI_LABELS.get(name, name), "value": cell["text"],
                             "note": cell["note"], "band": band})
        rows = []
        for name in self.kpis:
            if name.startswith("funding_gap_"):
                continue
            cell = self.kpi_cell(name)
            stats = self.mc_kpi(name)
            not_simulated = ""
            if self.mc is not None and stats is None:
                not_simulated = ("fixed: debt sized once on the base case" if name == "debt_eur"
                                 else "not part of the Monte Carlo results")
            rows.append({
                "label": formatting.KPI_LABELS.get(name, name),
                "value": cell["text"],
                "note": cell["note"],
                "not_simulated": not_simulated,
                "p10": _fmt_kpi(name, stats.get("p10")) if stats else "",
                "p50": _fmt_kpi(name, stats.get("p50")) if stats else "",
                "p90": _fmt_kpi(name, stats.get("p90")) if stats else "",
            })
        return {
            "headline": headline,
            "rows": rows,
            "has_mc": self.mc is not None,
            "mc_note": self._mc_note(),
            "messages": self._messages(),
        }

    def _mc_note(self) -> str:
        if self.mc is None:
            return self.mc_absent_reason()
        sims = self.mc.get("simulations") or self.doc.get("manifest", {}).get("simulations")
        n = fmt_number(sims) if sims else "the"
        return (f"P10, P50 and P90 over {n} Monte Carlo paths; debt sized once on the base case "
                "and held fixed on every path.")

    def _messages(self) -> list[str]:
        k = self.kpis
        p = self.data["project"]
        funders = [f"{what} of {fmt_kpi(name, k.get(name))}" for what, name in (("grants", "grants_eur"), ("senior debt", "debt_eur"))
                   if k.get(name)]
        refreshes = ", GPU refreshes included" if k.get("refresh_capex_eur") else ""
        out = [
            f"Total initial capex of {fmt_kpi('total_capex_eur', k.get('total_capex_eur'))} is funded by "
            f"{', '.join(funders) + ' and equity' if funders else 'equity alone'}; partners pay in "
            f"{fmt_kpi('equity_eur', k.get('equity_eur'))} over the life of the project{refreshes} "
            f"(peak exposure {fmt_kpi('peak_equity_exposure_eur', k.get('peak_equity_exposure_eur'))}).",
        ]
        npv = k.get("project_npv_eur")
        if npv is not None and _finite(npv):
            verdict = "creates value" if npv >= 0 else "does not recover its cost of capital"
            out.append(
                f"At a discount rate of {fmt_pct(p['discount_rate'])} the project {verdict}: project NPV "
                f"{fmt_kpi('project_npv_eur', npv)}, project IRR {self.kpi_cell('project_irr')['text']}, "
                f"equity IRR {self.kpi_cell('equity_irr')['text']}."
            )
        launch = self.data["revenue"]["launch_price_eur_per_gpu_hour"]
        breakeven = k.get("breakeven_price_eur_per_gpu_hour")
        if _finite(breakeven):
            out.append(
                f"The project breaks even (NPV = 0) at a launch price of EUR {fmt_kpi('breakeven_price_eur_per_gpu_hour', breakeven)} "
                f"per GPU-hour, against EUR {formatting.fmt_unit_price(launch)} assumed; the levelized cost of compute is "
                f"EUR {fmt_kpi('lcoc_eur_per_gpu_hour', k.get('lcoc_eur_per_gpu_hour'))} per GPU-hour sold."
            )
        breach_years = self._breach_years()
        min_dscr = k.get("min_dscr")
        if _finite(min_dscr) and np.isfinite(self.covenant):
            if breach_years:
                out.append(
                    f"Minimum DSCR is {fmt_kpi('min_dscr', min_dscr)} against a covenant of {formatting.fmt_ratio(self.covenant)}: "
                    f"the covenant is breached in {', '.join(str(y) for y in breach_years)}."
                )
            else:
                out.append(
                    f"Minimum DSCR is {fmt_kpi('min_dscr', min_dscr)}, above the covenant of {formatting.fmt_ratio(self.covenant)} in every year."
                )
        if self.mc is not None:
            prob = self._probability("prob_project_npv_negative")
            if isinstance(prob, float):
                out.append(f"Across the Monte Carlo paths the probability of a negative project NPV is {fmt_pct(prob)}.")
        return out

    def _breach_years(self) -> list[int]:
        dscr = self.line("dscr")
        return [self.years[t] for t in range(len(dscr)) if np.isfinite(dscr[t]) and dscr[t] < self.covenant]

    def funding(self) -> dict[str, Any]:
        initial = (self.line("initial_capex_eur") > 0) | np.asarray(self.tl.is_construction)
        last_initial = max((t for t in range(len(initial)) if initial[t]), default=0)
        period = f"{self.years[0]}–{self.years[last_initial]}"
        life = f"{self.years[0]}–{self.years[-1]}"
        uses = [
            ("Facility, grid and land", "facility_capex_eur"),
            ("Initial compute (GPU cohorts)", "compute_initial_capex_eur"),
            ("GPU refreshes", "refresh_capex_eur"),
            ("Debt fees", "debt_fees_eur"),
            ("Interest paid", "interest_paid_eur"),
            ("Principal repaid", "principal_eur"),
            ("Distributions to partners", "distributions_eur"),
        ]
        sources = [
            ("Grants", "grants_eur"),
            ("Senior debt drawn", "debt_drawdown_eur"),
            ("Equity contributions", "equity_contributions_eur"),
            ("Equity calls (refreshes, shortfalls)", "equity_calls_eur"),
            ("Operating cash flow (CFADS)", "cfads_eur"),
            ("Residual value", "terminal_value_eur"),
            ("Resale of retired GPUs", "compute_resale_eur"),
        ]

        def rows(items: list[tuple[str, str]]) -> tuple[list[dict[str, str]], dict[str, str]]:
            out = []
            sum_initial = sum_life = 0.0
            for label, name in items:
                a, b = self.total(name, initial), self.total(name)
                if a == 0 and b == 0:
                    continue
                sum_initial += a
                sum_life += b
                out.append({"label": label, "initial": fmt_eur_m_cell(a), "life": fmt_eur_m_cell(b)})
            return out, {"label": "Total", "initial": fmt_eur_m_cell(sum_initial), "life": fmt_eur_m_cell(sum_life)}

        source_rows, source_total = rows(sources)
        use_rows, use_total = rows(uses)
        grants = []
        classes = {
            "facility": "facility_capex_eur", "compute_initial": "compute_initial_capex_eur",
            "compute_refresh": "refresh_capex_eur",
        }
        class_labels = {"facility": "facility", "compute_initial": "initial compute", "compute_refresh": "refreshes"}
        for g, grant in enumerate(self.data["grants"]):
            eligible = sum(self.total(classes[c]) for c in grant["eligible"])
            received = self.total(f"grant_{g}_eur") if f"grant_{g}_eur" in self.res.lines else math.nan
            cap = float(grant["cap_eur"])
            binding = "cap" if _finite(received) and received >= cap * (1 - 1e-9) else "share"
            grants.append({
                "name": str(grant["name"]),
                "eligible": ", ".join(class_labels.get(c, c) for c in grant["eligible"]),
                "eligible_capex": fmt_eur_m_cell(eligible),
                "share": fmt_pct(grant["share_of_eligible_capex"]),
                "cap": fmt_eur_m_cell(cap),
                "received": fmt_eur_m_cell(received),
                "binding": binding,
            })
        partner_stacks = [
            (str(pt["name"]), _millions(pt["cash_flow_eur"]), _series(i))
            for i, pt in enumerate(self.doc.get("partners", []))
        ]
        chart = charts().stacked_bars(
            "partner-flows", "Equity cash flows by partner",
            self.years, partner_stacks, "EUR m (contributions below zero)",
            lines=[("Cumulative equity cash flow", _millions(self.line("cumulative_equity_cash_flow_eur")), charts().RED)],
        )
        gap = self._funding_gap()
        return {
            "period": period,
            "life": life,
            "sources": source_rows,
            "sources_total": source_total,
            "uses": use_rows,
            "uses_total": use_total,
            "grants": grants,
            "chart": _chart(chart, "Equity cash flows by partner",
                            "Each partner's share of the equity cash flow per year: contributions and calls "
                            "below zero, distributions above [EUR m, nominal]."),
            "gap": gap,
        }

    def _funding_gap(self) -> list[dict[str, str]]:
        out = []
        for name in [k for k in self.kpis if k.startswith("funding_gap_")]:
            if name in self.kpis:
                cell = self.kpi_cell(name)
                out.append({"label": formatting.KPI_LABELS.get(name, name), "value": cell["text"], "note": cell["note"]})
        extra = self.doc.get("funding_gap")
        if isinstance(extra, Mapping):
            for key, value in extra.items():
                if isinstance(value, int | float) and not isinstance(value, bool) or value is None:
                    label = formatting.KPI_LABELS.get(key, key.replace("_", " ").capitalize())
                    if any(r["label"] == label for r in out):
                        continue
                    text = _fmt_by_name(key, value)
                    out.append({"label": label, "value": text, "note": "no answer" if text == NA else ""})
        return out

    def business(self) -> dict[str, Any]:
        ch = charts()
        site = self.data["site"]
        life = int(self.data["capex"]["compute_life_years"])
        from bizcase.engine import cohort_purchases

        purchases = cohort_purchases(self.tl, list(site["deployment"]), life)
        cohorts = []
        C = self.tl.construction_years
        for k, share in enumerate(site["deployment"]):
            refresh_years = [self.years[p] for kk, p, is_refresh in purchases if kk == k and is_refresh]
            live = C + k
            cohorts.append({
                "name": f"Cohort {k + 1}",
                "gpus": fmt_number(share * site["gpus"]),
                "live": str(self.years[live]) if live < len(self.years) else "after the horizon",
                "refreshes": ", ".join(str(y) for y in refresh_years) or "none within the horizon",
            })
        capacity = ch.two_panels(
            "capacity", "Capacity and capital expenditure", self.years,
            ("Live GPUs [thousand]", [("Live GPUs", self.line("live_gpus") / 1e3, ch.SLATE)], "thousand GPUs"),
            ("Capex [EUR m]", [
                ("Facility", _millions(self.line("facility_capex_eur")), ch.NAVY),
                ("Initial compute", _millions(self.line("compute_initial_capex_eur")), ch.STEEL),
                ("Refresh", _millions(self.line("refresh_capex_eur")), ch.SAND),
            ], "EUR m"),
        )
        op = self.op
        util_base = self.line("market_utilization")[op]
        band = self._band("market_utilization", op)
        if band is not None:
            utilization = ch.fan_chart("utilization", "Market utilization ramp", self.op_years, band,
                                       "Market utilization [%]", base=util_base, percent=True)
            util_caption = ("Utilization of uncontracted capacity: Monte Carlo percentile fan around the "
                            "base-case logistic ramp.")
        else:
            utilization = ch.line_chart(
                "utilization", "Utilization ramp", self.op_years,
                [("Market utilization", util_base, ch.STEEL),
                 ("Overall utilization (incl. anchors and public access)", self.line("overall_utilization")[op], ch.NAVY)],
                "Utilization [%]", percent=True, ymin=0,
            )
            util_caption = f"Base-case logistic ramp. No fan chart: {self.mc_absent_reason()}"
        lcoc = self.kpis.get("lcoc_eur_per_gpu_hour")
        price = ch.line_chart(
            "price", "Market price of a GPU-hour", self.op_years,
            [("Fleet-average market price", self.line("market_price_eur_per_gpu_hour")[op], ch.NAVY)],
            "EUR per GPU-hour", decimals=2, ymin=0,
            hlines=[("Levelized cost of compute", float(lcoc), ch.SAND)] if lcoc is not None and _finite(lcoc) else [],
        )
        mix = ch.stacked_bars(
            "customer-mix", "Revenue by customer group", self.op_years,
            [("Anchor customers (take-or-pay)", _millions(self.line("anchor_revenue_eur")[op]), ch.NAVY),
             ("Public access", _millions(self.line("public_revenue_eur")[op]), ch.SAND),
             ("Market", _millions(self.line("market_revenue_eur")[op]), ch.STEEL)],
            "EUR m",
        )
        customers = [
            {"name": str(c["name"]), "gpus": fmt_number(c["gpus"]),
             "price": formatting.fmt_unit_price(c["price_eur_per_gpu_hour"]),
             "years": f"{self._op_year_label(c['first_operating_year'])}, {int(c['years'])} years",
             "escalation": fmt_pct(c["escalation"])}
            for c in self.data["customers"]
        ]
        return {
            "cohorts": cohorts,
            "life": str(life),
            "customers": customers,
            "public_share": fmt_pct(self.data["public_access"]["share"]),
            "public_discount": fmt_pct(self.data["public_access"]["price_discount"]),
            "charts": [
                _chart(capacity, "Capacity and capital expenditure",
                       "Live GPUs per year (left) and capex by type (right); refreshes replace each cohort "
                       f"after {life} years [nominal EUR m]."),
                _chart(utilization, "Utilization ramp", util_caption),
                _chart(price, "Market price of a GPU-hour",
                       "Capacity-weighted market price of the live fleet: each cohort's price declines with its age "
                       "and resets when it is refreshed [EUR per GPU-hour, nominal]."),
                _chart(mix, "Revenue by customer group", "Revenue by customer group [EUR m, nominal]."),
            ],
        }

    def _op_year_label(self, operating_year: Any) -> str:
        t = int(operating_year) + self.tl.construction_years - 1
        return f"from {self.years[t]}" if 0 <= t < len(self.years) else f"from operating year {int(operating_year)}"

    def _band(self, name: str, periods: Sequence[int] | None = None, scale: float = 1.0) -> dict[str, np.ndarray] | None:
        if self.mc is None:
            return None
        band = self.mc.get("bands", {}).get(name)
        if not isinstance(band, Mapping):
            return None
        out = {}
        for key in ("p5", "p10", "p50", "p90", "p95"):
            values = band.get(key)
            if values is None or len(values) != self.tl.n_periods:
                continue
            arr = np.array([math.nan if v is None else v for v in values], dtype=float) / scale
            out[key] = arr[list(periods)] if periods is not None else arr
        return out if "p50" in out else None

    def power(self) -> dict[str, Any]:
        ch = charts()
        opex = self.data["opex"]
        site = self.data["site"]
        op = self.op
        chart = ch.two_panels(
            "power", "Electricity and its cost", self.op_years,
            ("Electricity [GWh]", [("Electricity", self.line("power_mwh")[op] / 1e3, ch.STEEL)], "GWh"),
            ("Power cost [EUR m]", [("Power cost", _millions(self.line("power_cost_eur")[op]), ch.NAVY)], "EUR m"),
        )
        inputs = [
            ("IT load per GPU", f"{fmt_input(site['it_kw_per_gpu'])} kW"),
            ("Power usage effectiveness (PUE)", fmt_input(site["pue"])),
            ("Idle draw (share of full load)", fmt_pct(opex["idle_power_share"])),
            ("Share bought under the PPA", fmt_pct(opex["ppa_share"])),
            ("PPA price, operating year 1", f"EUR {fmt_input(opex['ppa_price_eur_per_mwh'])}/MWh"),
            ("Market power price, operating year 1", f"EUR {fmt_input(opex['power_price_eur_per_mwh'])}/MWh"),
            ("Price escalation", f"{fmt_pct(opex['power_price_escalation'])} per year"),
        ]
        rows = []
        for t in op:
            rows.append({
                "year": str(self.years[t]),
                "gpus": fmt_number(self.line("live_gpus")[t]),
                "utilization": fmt_pct(self.line("overall_utilization")[t]),
                "gwh": fmt_number(self.line("power_mwh")[t] / 1e3),
                "price": formatting.fmt_unit_price(self.line("power_price_eur_per_mwh")[t]),
                "cost": fmt_eur_m_cell(self.line("power_cost_eur")[t]),
                "share": fmt_pct(_ratio(self.line("power_cost_eur")[t], self.line("opex_eur")[t])),
            })
        return {
            "inputs": inputs,
            "rows": rows,
            "total_gwh": fmt_number(self.total("power_mwh") / 1e3),
            "total_cost": fmt_eur_m_cell(self.total("power_cost_eur")),
            "share_of_opex": fmt_pct(_ratio(self.total("power_cost_eur"), self.total("opex_eur"))),
            "chart": _chart(chart, "Electricity and its cost",
                            "Consumption = live GPUs × IT load × (idle + (1 − idle) × utilization) × PUE; "
                            "cost at the PPA/market blend [GWh; EUR m, nominal]."),
        }

    def cash_flows(self) -> dict[str, Any]:
        ch = charts()
        columns = [
            ("Revenue", "revenue_eur", 1), ("Opex", "opex_eur", -1), ("EBITDA", "ebitda_eur", 1),
            ("Capex", "capex_eur", -1), ("Grants", "grants_eur", 1), ("Tax", "tax_eur", -1),
            ("CFADS", "cfads_eur", 1), ("Debt service", "debt_service_eur", -1),
            ("Equity flow", "equity_cash_flow_eur", 1), ("Project flow", "project_cash_flow_eur", 1),
        ]
        rows = []
        for t, year in enumerate(self.years):
            rows.append({"year": str(year), "phase": "C" if self.tl.is_construction[t] else "",
                         "cells": [fmt_eur_m_cell(sign * self.line(name)[t]) for _, name, sign in columns]})
        totals = [fmt_eur_m_cell(sign * self.total(name)) for _, name, sign in columns]
        resale = self.line("compute_resale_eur")
        inflows = [("Revenue", _millions(self.line("revenue_eur")), ch.STEEL),
                   ("Grants", _millions(self.line("grants_eur")), ch.SKY),
                   ("Residual value", _millions(self.line("terminal_value_eur")), ch.MIST)]
        if np.any(resale != 0):
            inflows.append(("GPU resale", _millions(resale), ch.GREEN))
        chart = ch.stacked_bars(
            "cash-flows", "Project cash flows", self.years,
            [*inflows,
             ("Opex", -_millions(self.line("opex_eur")), ch.SAND),
             ("Capex", -_millions(self.line("capex_eur")), ch.NAVY),
             ("Tax", -_millions(self.line("unlevered_tax_eur")), ch.SLATE)],
            "EUR m",
            lines=[("Project cash flow", _millions(self.line("project_cash_flow_eur")), ch.RED)],
            height=3.0,
        )
        return {
            "headers": [label for label, _, _ in columns],
            "rows": rows,
            "totals": totals,
            "chart": _chart(chart, "Project cash flows",
                            "Inflows above zero, outflows below; the line is the unlevered post-tax project cash flow "
                            "[EUR m, nominal]."),
        }

    def financing(self) -> dict[str, Any]:
        ch = charts()
        tranches = []
        for d, tr in zip(self.data["debt"], self.res.debt.tranches, strict=False):
            tranches.append({
                "name": str(d["name"]),
                "amount": fmt_eur_m_cell(float(np.sum(tr.draws))),
                "rate": fmt_pct(d["interest_rate"]),
                "tenor": f"{int(d['tenor_years'])} years",
                "repayment": str(d["repayment"]) + (f" (target DSCR {formatting.fmt_ratio(d['target_dscr'])})"
                                                    if d["repayment"] == "sculpted" else ""),
                "covenant": formatting.fmt_ratio(d["min_dscr_covenant"]),
                "lockup": formatting.fmt_ratio(d["lockup_dscr"]) if d["lockup_dscr"] > 0 else "none",
                "dsra": f"{float(d['dsra_months']):g} months" if d["dsra_months"] > 0 else "none",
                "fee": fmt_pct(d["upfront_fee"]),
                "gearing": fmt_pct(d["gearing"]),
            })
        out: dict[str, Any] = {
            "tranches": tranches,
            "ratios": [
                {"label": formatting.KPI_LABELS[n], **self.kpi_cell(n)}
                for n in ("min_dscr", "avg_dscr", "llcr") if n in self.kpis
            ],
            "charts": [],
            "no_debt": "",
            "lockup": {"text": "", "rows": []},
            "dsra": "",
        }
        if not self.res.debt.tranches or self.total("debt_drawdown_eur") == 0:
            out["no_debt"] = "No senior debt in this case: no debt balance, debt service or DSCR to show."
            return out
        out["lockup"] = self._lockup()
        out["dsra"] = self._dsra()
        balance_stacks = [(tr.name, np.asarray(tr.balance) / 1e6, _series(i))
                          for i, tr in enumerate(self.res.debt.tranches)]
        balance = ch.stacked_bars(
            "debt-balance", "Debt balance and debt service", self.years, balance_stacks, "EUR m",
            lines=[("Debt service", _millions(self.line("debt_service_eur")), ch.SAND)],
        )
        dscr = ch.dscr_chart("dscr", "DSCR against the covenant", [self.years[t] for t in self.op],
                             self.line("dscr")[self.op], self.covenant)
        breach = self._breach_years()
        out["charts"] = [
            _chart(balance, "Debt balance and debt service",
                   "Closing balance per tranche (bars; interest during construction capitalised) and "
                   "yearly debt service (line) [EUR m, nominal]."),
            _chart(dscr, "DSCR against the covenant",
                   "CFADS ÷ debt service per operating year; red where below the covenant"
                   + (f" ({', '.join(str(y) for y in breach)})." if breach else ".")
                   + " Years without debt service have no DSCR (n/a) and no bar."),
        ]
        return out

    def _lockup(self) -> dict[str, Any]:
        """The distribution lock-up of the base case: a sentence and its years."""
        flag, retained, released = self.line("lockup_flag"), self.line("lockup_retained_eur"), self.line("lockup_released_eur")
        if not (self.line("lockup_ratio") > 0).any():
            return {"text": "No tranche has a distribution lock-up: every surplus is distributed in its year.", "rows": []}
        shown = [t for t in range(len(flag)) if flag[t] > 0 or retained[t] > 0 or released[t] > 0]
        rows = [{
            "year": str(self.years[t]),
            "dscr": formatting.fmt_ratio(self.line("dscr")[t]),
            "ratio": formatting.fmt_ratio(self.line("lockup_ratio")[t]),
            "retained": fmt_eur_m_cell(retained[t]),
            "released": fmt_eur_m_cell(released[t]),
            "balance": fmt_eur_m_cell(self.line("lockup_balance_eur")[t]),
        } for t in shown]
        locked = [str(self.years[t]) for t in shown if flag[t] > 0]
        kept = [str(self.years[t]) for t in shown if retained[t] > 0]
        if not locked:
            text = "The DSCR never falls below the lock-up ratio: no distribution is locked up."
        elif not kept:
            text = (f"The DSCR falls below the lock-up ratio in {', '.join(locked)}, but there is no surplus to "
                    "retain then (the year needs equity, not distributions): no distribution is locked up.")
        else:
            text = (f"Distributions are locked up in {', '.join(kept)}: "
                    f"EUR {fmt_eur_m_cell(float(retained.sum()))}m retained in the project company in all, "
                    "released when the DSCR recovers, after the last repayment or at the end.")
        return {"text": text, "rows": rows}

    def _dsra(self) -> str:
        """The debt service reserve of the base case in one sentence."""
        target, funding = self.line("dsra_target_eur"), self.line("dsra_funding_eur")
        if not (target > 0).any():
            return "No tranche holds a debt service reserve."
        funded = [t for t in range(len(funding)) if funding[t] > 0]
        released = [t for t in range(len(funding)) if funding[t] < 0]
        return (f"Debt service reserve: first funded in {self.years[funded[0]]} with "
                f"EUR {fmt_eur_m_cell(funding[funded[0]])}m from equity, at most EUR {fmt_eur_m_cell(float(target.max()))}m, "
                f"released to equity as the debt service falls; the last release is in {self.years[released[-1]]}. "
                "It earns no interest and is not drawn in this model.")

    def partners(self) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        for pt in self.doc.get("partners", []):
            rows.append({
                "name": str(pt["name"]),
                "share": fmt_pct(pt.get("share")),
                "coe": fmt_pct(pt.get("cost_of_equity")),
                "contributions": fmt_eur_m_cell(pt.get("contributions_eur")),
                "distributions": fmt_eur_m_cell(pt.get("distributions_eur")),
                "irr": _value(fmt_pct(pt.get("irr")), NA_REASONS["irr"]),
                "npv": _value(fmt_eur_m_cell(pt.get("npv_eur")), "no answer"),
                "moic": _value(formatting.fmt_ratio(pt.get("moic")), NA_REASONS["moic"]),
                "peak": fmt_eur_m_cell(pt.get("peak_exposure_eur")),
                "payback": _value(formatting.fmt_year(pt.get("payback_year")), NA_REASONS["payback_year_partner"]),
            })
        cells: list[dict[str, str]] = [r[k] for r in rows for k in ("irr", "npv", "moic", "payback")]
        notes = sorted({cell["note"] for cell in cells if cell["note"]})
        uncertain = []
        for pt in (self.mc or {}).get("partners", []) or []:
            if not isinstance(pt, Mapping):
                continue
            npv: Mapping[str, Any] = pt["npv_eur"] if isinstance(pt.get("npv_eur"), Mapping) else {}
            irr: Mapping[str, Any] = pt["irr"] if isinstance(pt.get("irr"), Mapping) else {}
            uncertain.append({
                "name": str(pt.get("name", "")),
                "npv": [fmt_eur_m_cell(npv.get(q)) for q in ("p10", "p50", "p90")],
                "irr": [fmt_pct(irr.get(q)) for q in ("p10", "p50", "p90")],
                "prob": fmt_pct(pt.get("prob_irr_below_cost_of_equity")),
            })
        return {"rows": rows, "notes": notes, "uncertain": uncertain,
                "mc_reason": "" if self.mc is not None else self.mc_absent_reason()}

    def _probability(self, key: str) -> Any:
        if self.mc is None:
            return None
        if key in self.mc:
            return self.mc[key]
        probs = self.mc.get("probabilities")
        return probs.get(key) if isinstance(probs, Mapping) else None

    def risk(self) -> dict[str, Any]:
        ch = charts()
        out: dict[str, Any] = {
            "has_mc": self.mc is not None,
            "mc_reason": "" if self.mc is not None else self.mc_absent_reason(),
            "kpi_rows": [], "probabilities": [], "histograms": [], "fans": [], "sensitivity": None,
            "tornados": [], "tornado_rows": [], "tornado_reason": "", "sensitivity_reason": "", "method": "",
            "histogram_notes": [], "tornado_method": "", "kpi_notes": [],
        }
        if self.mc is not None:
            out["method"] = self._mc_method()
            for name, stats in self.mc.get("kpis", {}).items():
                if not isinstance(stats, Mapping) or name == "dscr_covenant_breach":
                    continue
                base_cell = self.kpi_cell(name) if name in self.kpis else _value(NA, "not in the base-case results")
                if base_cell["note"]:
                    out["kpi_notes"].append(f"{formatting.KPI_LABELS.get(name, name)}, base case n/a: {base_cell['note']}.")
                out["kpi_rows"].append({
                    "label": formatting.KPI_LABELS.get(name, name),
                    "base": base_cell["text"],
                    "cells": [fmt_kpi(name, stats.get(p)) for p in ("mean", "p5", "p10", "p50", "p90", "p95")],
                })
            out["probabilities"] = self._probabilities()
            out["histograms"] = self._histograms()
            out["histogram_notes"] = self.histogram_notes
            for name, (title, ylabel, percent) in BAND_LABELS.items():
                # utilization exists only in operation; money lines start with the build
                periods = self.op if percent else list(range(self.tl.n_periods))
                band = self._band(name, periods, scale=1.0 if percent else 1e6)
                if band is None:
                    continue
                base = self.line(name)[periods] / (1.0 if percent else 1e6) if name in self.res.lines else None
                years = [self.years[t] for t in periods]
                svg = ch.fan_chart(f"fan-{name}", title, years, band, ylabel, base=base, percent=percent,
                                   width=ch.WIDTH / 2, height=2.3)
                n_band = self.mc.get("bands", {}).get("n_paths")
                over = f" over {fmt_number(n_band)} paths" if n_band else ""
                out["fans"].append(_chart(svg, title, f"Monte Carlo percentiles per year{over}, and the base case."))
            sens = self.mc.get("sensitivities", {}).get("project_npv_eur")
            if isinstance(sens, Mapping) and sens:
                items = sorted(((k, v) for k, v in sens.items() if _finite(v)), key=lambda kv: -abs(kv[1]))
                if items:
                    svg = ch.horizontal_bars(
                        "sensitivity", "Rank correlation with project NPV",
                        [self.input_label(k) for k, _ in items], [v for _, v in items],
                        "Spearman rank correlation with project NPV",
                    )
                    out["sensitivity"] = _chart(svg, "What drives project NPV",
                                                "Spearman rank correlation between each uncertain input and project NPV "
                                                "across the Monte Carlo paths; longer bars matter more.")
            if out["sensitivity"] is None:
                out["sensitivity_reason"] = "Rank-correlation sensitivities are not part of this run's Monte Carlo results."
        self._tornado(out)
        return out

    def _probabilities(self) -> list[dict[str, str]]:
        assert self.mc is not None
        rows = []
        hurdle = self.mc.get("equity_hurdle")
        for key, label in PROBABILITIES:
            value = self._probability(key)
            if key == "prob_equity_irr_below_hurdle" and _finite(hurdle):
                label = f"Equity IRR below the hurdle ({fmt_pct(hurdle)}, share-weighted cost of equity)"
            if isinstance(value, Mapping):
                for who, v in value.items():
                    rows.append(_row(f"{label}: {who}", fmt_pct(v), "no answer"))
            elif key in self.mc or value is not None:
                why = "no senior debt" if key in ("prob_dscr_covenant_breach", "prob_distribution_lockup") else "no answer"
                rows.append(_row(label, fmt_pct(value), why))
        for partner in self.mc.get("partners", []) or []:
            if isinstance(partner, Mapping) and "prob_irr_below_cost_of_equity" in partner:
                rows.append(_row(
                    f"{partner.get('name', 'Partner')}: IRR below its cost of equity ({fmt_pct(partner.get('cost_of_equity'))})",
                    fmt_pct(partner["prob_irr_below_cost_of_equity"]), "no answer",
                ))
        se = next((self.mc[k] for k in ("std_error_mean_project_npv_eur", "npv_standard_error_eur") if k in self.mc), None)
        if se is not None or any(k in self.mc for k in ("std_error_mean_project_npv_eur",)):
            rows.append(_row("Standard error of the mean project NPV", fmt_eur_m(se), "fewer than two paths"))
        return rows

    def _mc_method(self) -> str:
        assert self.mc is not None
        m = self.doc.get("manifest", {})
        sims = self.mc.get("simulations") or m.get("simulations")
        sampling = self.mc.get("sampling") or m.get("sampling")
        seed = self.mc.get("seed", m.get("seed"))
        parts = []
        if sims:
            parts.append(f"{fmt_number(sims)} paths")
        if sampling:
            parts.append(f"{sampling} sampling")
        if seed is not None:
            parts.append(f"seed {seed}")
        return "Monte Carlo: " + ", ".join(parts) + "." if parts else ""

    def _histograms(self) -> list[dict[str, Any]]:
        ch = charts()
        assert self.mc is not None
        hist = self.mc.get("histograms", {})
        out = []
        specs = (("project_npv_eur", "Project NPV", "Project NPV [EUR m]", 1e6, False),
                 ("equity_irr", "Equity IRR", "Equity IRR [%]", 1.0, True))
        for name, title, xlabel, scale, percent in specs:
            h = hist.get(name)
            if not isinstance(h, Mapping):
                continue
            if not h.get("counts") or not h.get("edges"):
                self.histogram_notes.append(f"{title}: no path has a defined value, so there is no histogram.")
                continue
            edges = np.array([math.nan if v is None else v for v in h["edges"]], dtype=float) / scale
            counts = np.asarray(h["counts"], dtype=float)
            if len(edges) != len(counts) + 1 or not np.all(np.isfinite(edges)) or counts.sum() <= 0:
                continue
            lo, hi = _core_bins(counts)
            outside = int(counts[:lo].sum() + counts[hi:].sum())
            edges, counts = edges[lo : hi + 1], counts[lo:hi]
            markers = []
            base = self.kpis.get(name)
            if base is not None and _finite(base):
                markers.append(("Base case", float(base) / scale, charts().SAND))
            stats = self.mc_kpi(name)
            if stats and _finite(stats.get("p50")):
                markers.append(("P50", float(stats["p50"]) / scale, charts().NAVY))
            svg = ch.histogram(f"hist-{name}", title, edges, counts, xlabel, markers=markers, percent=percent,
                               threshold=0.0 if name == "project_npv_eur" else None)
            caption = "Share of Monte Carlo paths per bin; dashed lines mark the base case and the median (P50)"
            if name == "project_npv_eur":
                caption += "; bins below zero in red"
            if outside:
                caption += f"; {fmt_number(outside)} outlying paths beyond the range shown"
            missing = h.get("n_missing", h.get("nan_count"))
            if missing:
                caption += f"; {fmt_number(missing)} paths without an answer (n/a) are not shown"
            out.append(_chart(svg, title, caption + "."))
        return out

    def _tornado(self, out: dict[str, Any]) -> None:
        ch = charts()
        sensitivity = self.doc.get("sensitivity")
        rows = sensitivity.get("tornado") if isinstance(sensitivity, Mapping) else None
        if not rows:
            out["tornado_reason"] = "One-at-a-time (tornado) sensitivity not run for this pack."
            return
        method = sensitivity.get("method") if isinstance(sensitivity, Mapping) else None
        pct = sensitivity.get("pct") if isinstance(sensitivity, Mapping) else None
        if method == "p10_p90":
            out["tornado_method"] = "Each uncertain input at its P10 and P90, one at a time, all others at the base case."
        elif _finite(pct):
            out["tornado_method"] = f"Each input moved by ±{fmt_pct(pct)}, one at a time, all others at the base case."
        out["tornado_method"] += (" The whole model is re-run for each value, debt sizing included, as a run with "
                                  "that input would be.")
        by_kpi: dict[str, list[Mapping[str, Any]]] = {}
        for row in rows:
            if isinstance(row, Mapping) and "kpi" in row:
                by_kpi.setdefault(str(row["kpi"]), []).append(row)
        for kpi, items in by_kpi.items():
            percent = formatting.KPI_KINDS.get(kpi) == "pct"
            scale = 1.0 if percent else 1e6
            base = self.kpis.get(kpi)
            usable = [r for r in items if _finite(r.get("kpi_low")) and _finite(r.get("kpi_high"))]
            usable.sort(key=lambda r: -abs(float(r["kpi_high"]) - float(r["kpi_low"])))
            for r in items:
                path = str(r.get("input", ""))
                f = assumptions.field_of(path)
                unit = f.unit if f else ""
                out["tornado_rows"].append({
                    "kpi": formatting.KPI_LABELS.get(kpi, kpi),
                    "input": self.input_label(path),
                    "low": fmt_input(r.get("low_value"), unit),
                    "high": fmt_input(r.get("high_value"), unit),
                    "kpi_low": fmt_kpi(kpi, r.get("kpi_low")),
                    "kpi_high": fmt_kpi(kpi, r.get("kpi_high")),
                })
            if not usable or base is None or not _finite(base):
                continue
            label = formatting.KPI_LABELS.get(kpi, kpi)
            svg = ch.tornado(
                f"tornado-{kpi}", f"Tornado: {label}",
                [self.input_label(str(r["input"])) for r in usable],
                [float(r["kpi_low"]) / scale for r in usable], [float(r["kpi_high"]) / scale for r in usable],
                float(base) / scale, f"{label} [{'%' if percent else 'EUR m'}]", percent=percent,
            )
            out["tornados"].append(_chart(svg, f"Tornado: {label}",
                                          f"{label} with one input at a time at its low and high value, all others at "
                                          "the base case; the vertical line is the base case."))

    def scenarios(self) -> dict[str, Any]:
        items = self.doc.get("scenarios")
        defined = list(self.case.scenario_names)
        if not isinstance(items, list) or not items:
            reason = "Scenario comparison not run for this pack."
            if defined:
                reason += f" The assumptions define: {', '.join(defined)}."
            else:
                reason += " The assumptions define no scenarios."
            return {"available": False, "reason": reason, "columns": [], "rows": [], "overlays": self._overlays()}
        names = [str(s.get("scenario", "")) for s in items]
        kpi_names: list[str] = []
        for s in items:
            for k in s.get("kpis", {}):
                if k not in kpi_names:
                    kpi_names.append(k)
        order = [k for k in self.kpis if k in kpi_names] + [k for k in kpi_names if k not in self.kpis]
        rows = []
        for k in order:
            rows.append({
                "label": formatting.KPI_LABELS.get(k, k),
                "cells": [_fmt_kpi(k, s.get("kpis", {}).get(k)) for s in items],
            })
        return {"available": True, "reason": "", "columns": names, "rows": rows, "overlays": self._overlays()}

    def _overlays(self) -> list[dict[str, str]]:
        out = []
        for name, values in self.data.get("scenarios", {}).items():
            changes = []
            for path, value in values.items():
                f = assumptions.field_of(path)
                changes.append(f"{path} = {fmt_input(value, f.unit if f else '')}")
            out.append({"name": str(name), "changes": "; ".join(changes)})
        return out

    def assumptions(self) -> dict[str, Any]:
        groups: dict[str, list[dict[str, str]]] = {}
        uncertain = self.data.get("uncertainty", {}).get("variables", {})
        for path, f, value in assumptions.iter_fields(self.data):
            head = path.split(".")[0]
            parts = path.split(".")
            title = SECTION_TITLES.get(head, head)
            if len(parts) == 3:
                title = f"{title}: {self._item_name(path) or parts[1]}"
            unit = f.unit if f.unit not in ("fraction", "fraction/year") else ("" if f.unit == "fraction" else "per year")
            groups.setdefault(title, []).append({
                "key": parts[-1],
                "path": path,
                "doc": f.doc,
                "value": fmt_input(value, f.unit),
                "unit": unit,
                "source": self.case.sources.get(path, ""),
                "uncertain": "yes" if path in uncertain else "",
            })
        variables = []
        for path, spec in uncertain.items():
            schema = assumptions.field_of(path)
            unit = schema.unit if schema else ""
            params = ", ".join(f"{k} {fmt_input(v, unit)}" for k, v in spec.items() if k != "dist")
            variables.append({"path": path, "doc": schema.doc if schema else "", "dist": str(spec.get("dist", "")),
                              "params": params})
        unc = self.data.get("uncertainty", {})
        correlations = [{"a": str(a), "b": str(b), "rho": f"{float(r):+.2f}"}
                        for a, b, r in unc.get("correlation", {}).get("pairs", [])]
        processes = []
        for name, spec in unc.get("processes", {}).items():
            processes.append({"name": name.replace("_", " "),
                              "params": ", ".join(f"{k} {fmt_input(v)}" for k, v in spec.items())})
        return {
            "groups": [{"title": t, "rows": r} for t, r in groups.items()],
            "variables": variables,
            "correlations": correlations,
            "processes": processes,
        }

    @staticmethod
    def _loss_offset_text(tax: dict[str, Any]) -> str:
        """The loss carry-forward rule of the method section, with its limits."""
        threshold, share = float(tax["loss_offset_threshold_eur"]), float(tax["loss_offset_share_above_threshold"])
        if share >= 1.0 or threshold >= 1e15:
            return "Losses are carried forward without limit and offset later profits in full. "
        return (
            "Losses are carried forward without time limit, under minimum taxation as in § 10d EStG (applied alike to "
            "corporation and trade tax): in a year with a profit, losses brought forward offset it in full up to "
            f"{fmt_eur_m(threshold)} and {fmt_pct(share)} of the profit above that; the rest of the pool waits for "
            "later years. The unlevered tax on EBIT and the tax on profit after interest follow the same rule. "
        )

    def method(self) -> list[dict[str, str]]:
        p = self.data["project"]
        timing = "at the end of each year" if p["discounting"] == "end" else "in the middle of each year"
        exponent = "t + 1" if p["discounting"] == "end" else "t + 0.5"
        debt = self.data["debt"]
        repayment = ", ".join(sorted({str(d["repayment"]) for d in debt})) or "none"
        tax = self.data["tax"]
        return [
            {"title": "Timing", "text": (
                f"Annual periods t = 0 … {self.tl.n_periods - 1}, calendar years {self.years[0]}–{self.years[-1]}: "
                f"{self.tl.construction_years} construction years, then {self.tl.operating_years} operating years. "
                f"Cash flows fall {timing}. Money is nominal EUR; cash in is positive, cash out negative.")},
            {"title": "Net present value", "text": (
                f"Every NPV is valued at 1 January {self.years[0]}: the flow of period t is discounted by "
                f"(1 + r)^({exponent}). The project NPV uses r = {fmt_pct(p['discount_rate'])} (WACC); "
                "each partner's NPV uses that partner's own cost of equity. For year-end flows this equals "
                "Excel's =NPV(r, flows).")},
            {"title": "Internal rate of return", "text": (
                "The rate at which the NPV of a cash-flow series is zero. Where a series has no sign change, "
                "or no rate makes the NPV zero, the IRR is n/a; where a series changes sign several times "
                "the root a spreadsheet's IRR finds from the same guess is reported.")},
            {"title": "Project and equity cash flows", "text": (
                "Project cash flow (unlevered, post-tax) = EBITDA − capex + grants − tax on EBIT + residual value "
                "+ GPU resale. "
                "Equity cash flow = CFADS + grants + debt drawn − capex − debt fees − debt service + residual value "
                "+ GPU resale − DSRA funding: "
                "paid in by the partners when negative (contributions during the build, calls afterwards) and "
                "distributed when positive, pro rata to each partner's share, except for what the distribution "
                "lock-up retains or releases.")},
            {"title": "Debt sizing", "text": (
                "Each tranche draws its gearing × (initial capex − grants on it) during the build; interest accrues "
                "on the opening balance (no circular reference) and is capitalised during construction. Repayment: "
                f"{repayment}. DSCR = CFADS ÷ debt service, with CFADS = EBITDA − tax. Under Monte Carlo the debt is "
                "sized once, on the base case, and held fixed on every path: lenders do not re-size per path, so each "
                "path shows its own DSCRs and covenant breaches. Scenarios, one-at-a-time sensitivities and break-even "
                "values re-run the whole model, debt sizing included, as a run with those inputs would.")},
            {"title": "Distribution lock-up", "text": (
                "Lenders block distributions while the DSCR is below a lock-up ratio: the highest lock-up DSCR of "
                "the tranches with debt outstanding"
                + (f" ({', '.join(formatting.fmt_ratio(d['lockup_dscr']) for d in debt)})" if debt else "")
                + ". In an operating year with debt service whose DSCR is below it, that year's surplus is not "
                "distributed but kept in a lock-up account in the project company, which earns no interest; a "
                "shortfall is paid from the account before the partners are called. In the first later year whose "
                "DSCR is at or above the ratio, in any year without debt service after the last repayment, and in "
                "the last year of the horizon, the whole account is released and distributed with that year's "
                "surplus, so nothing stays trapped. A lock-up ratio of 0 means no lock-up. Under Monte Carlo each "
                "path has its own lock-ups on the fixed debt.")},
            {"title": "Debt service reserve", "text": (
                "Lenders require a debt service reserve account (DSRA), modelled as maintained at target: at each "
                "year end it holds, per tranche, its reserve months"
                + (" (" + ", ".join(f"{float(d['dsra_months']):g}" for d in debt) + ")" if debt else "")
                + " ÷ 12 of that tranche's debt service (interest + principal) of the next year, so nothing once no "
                "debt service follows. The yearly change of the target is paid into the account before "
                "distributions (a release when negative, which goes to the partners). The reserve is funded by "
                "equity, not by debt: its first funding, usually in the year before the first debt service, is "
                "part of the partners' contributions or calls. It earns no interest. Simplification: the reserve "
                "is never drawn to pay debt service (a shortfall is met by equity calls), so it always stays at "
                "target. As the debt is fixed from the base case, the reserve is the same on every Monte Carlo "
                "path; project cash flow, DSCR and LLCR do not include it.")},
            {"title": "Tax", "text": (
                f"Tax = {fmt_pct(tax['rate'])} × taxable profit, where taxable profit = max(0, profit before tax) − "
                "losses brought forward offset in that year; never negative. "
                + (self._loss_offset_text(tax) if tax["loss_carry_forward"] else "Losses are not carried forward. ")
                + ("Grants reduce the depreciable asset base. " if tax["grants_reduce_asset_base"] else "")
                + "Depreciation is straight line per asset class from go-live. "
                + ("Interest capitalised during construction is part of the facility's cost (IAS 23) and is "
                   f"depreciated with it over {self.data['capex']['facility_life_years']} years from go-live; grants do "
                   "not reduce it. As a financing cost it lowers only the tax of the project company (on profit after "
                   "interest); the project view, the tax on EBIT and the residual value leave it out, so project NPV "
                   "and IRR and the EU funding gap do not depend on the debt terms."
                   if tax["capitalise_construction_interest"]
                   else "Interest capitalised during construction is not deducted for tax."))},
            {"title": "Resale of retired GPUs", "text": (
                f"When a GPU cohort is refreshed, the generation it replaces is sold at the end of that year for "
                f"{fmt_pct(self.data['capex']['compute_resale_share'])} of its purchase cost (contingency and overrun "
                "included). It is fully depreciated by then, so the whole proceeds are a taxable gain in EBIT; they "
                "are not part of EBITDA or CFADS, and the EU funding gap counts them with the residual value in the "
                "discounted net revenue.")},
            {"title": "Grants", "text": (
                "Each grant = min(share × eligible capex, cap), received pro rata to its eligible spend.")},
            {"title": "Levelized cost and break-even", "text": (
                "Levelized cost of compute = PV(capex − grants + opex) ÷ PV(GPU-hours sold), before tax and financing. "
                "The break-even launch price is the launch price at which the project NPV is zero, found by "
                "re-running the whole model (debt sizing included).")},
        ]

    def checks(self) -> list[dict[str, str]]:
        return [
            {
                "label": CHECK_LABELS.get(str(c["name"]), str(c["name"])),
                "name": str(c["name"]),
                "passed": "pass" if c.get("passed") else "FAIL",
                "ok": "ok" if c.get("passed") else "fail",
                "deviation": fmt_input(round(float(c["worst_deviation"]), 2)) if _finite(c.get("worst_deviation")) else NA,
            }
            for c in self.doc.get("checks", [])
        ]

    def manifest(self) -> list[tuple[str, str]]:
        out = []
        for key, value in self.doc.get("manifest", {}).items():
            if isinstance(value, Mapping):
                text = "; ".join(f"{k} = {v}" for k, v in value.items()) or "none"
            elif value is None:
                text = "not applicable"
            else:
                text = str(value)
            out.append((MANIFEST_LABELS.get(key, key), text))
        return out


def charts() -> Any:
    """The chart module, imported on first use (matplotlib is slow to import)."""
    from bizcase import charts as module

    return module


def _series(i: int) -> str:
    palette: Sequence[str] = charts().SERIES
    return palette[i % len(palette)]


def _core_bins(counts: np.ndarray, tail: float = 0.005) -> tuple[int, int]:
    """The bins ``[lo, hi)`` left after dropping outer bins that hold at most ``tail`` of the paths each side."""
    total = float(counts.sum())
    cum = np.cumsum(counts)
    lo = int(np.searchsorted(cum, tail * total, side="right"))
    rev = np.cumsum(counts[::-1])
    hi = len(counts) - int(np.searchsorted(rev, tail * total, side="right"))
    return (lo, hi) if lo < hi else (0, len(counts))


def _row(label: str, text: str, why: str) -> dict[str, str]:
    return {"label": label, "value": text, "note": why if text == NA else ""}


def _fmt_kpi(name: str, value: Any) -> str:
    """A KPI for display; the covenant-breach flag reads "yes" or "no"."""
    if name == "dscr_covenant_breach" and _finite(value):
        return "yes" if value else "no"
    return fmt_kpi(name, value)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _fmt_by_name(name: str, value: Any) -> str:
    formatter: Callable[[Any], str]
    if name in formatting.KPI_KINDS:
        return fmt_kpi(name, value)
    if name.endswith("_eur"):
        formatter = fmt_eur_m
    elif name.endswith(("_rate", "_share")):
        formatter = fmt_pct
    else:
        formatter = formatting.FORMATTERS["decimal"]
    return formatter(value)
