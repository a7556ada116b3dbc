"""The results document (``results.json``): KPIs, annual lines, partners, checks, manifest.

Numbers are plain floats in EUR, fractions and calendar years. A value with no answer
is ``null`` in JSON, with the reason in ``notes``.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import re
import unicodedata
from typing import Any

import numpy as np

from bizcase import __version__
from bizcase.engine import ModelResult

#: KPIs of DESIGN, in the order they are shown.
KPI_ORDER = (
    "total_capex_eur", "grants_eur", "debt_eur", "equity_eur", "project_npv_eur", "project_irr",
    "equity_npv_eur", "equity_irr", "min_dscr", "avg_dscr", "llcr", "payback_year",
    "lcoc_eur_per_gpu_hour", "breakeven_price_eur_per_gpu_hour", "peak_equity_exposure_eur",
)

NA_REASONS = {
    "project_irr": "project cash flows have no sign change, or no rate in range makes NPV zero",
    "equity_irr": "equity cash flows have no sign change, or no rate in range makes NPV zero",
    "min_dscr": "no debt service",
    "avg_dscr": "no debt service",
    "llcr": "no debt",
    "payback_year": "cumulative project cash flow does not stay non-negative to the end of the horizon",
    "equity_payback_year": "cumulative equity cash flow does not stay non-negative to the end of the horizon",
    "lcoc_eur_per_gpu_hour": "no GPU-hours sold",
    "breakeven_price_eur_per_gpu_hour": "no launch price between 0 and 50 EUR/GPU-hour makes project NPV zero",
    "irr": "partner cash flows have no sign change",
    "moic": "no contribution",
    "payback_year_partner": "cumulative flow does not stay non-negative to the end of the horizon",
}


def clean(value: Any) -> Any:
    """A JSON-safe value: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{n}" for p in ("com", "lpt") for n in range(10)]
)


def slug(text: str) -> str:
    """A safe file-name stem from a project name: ASCII letters, digits and dashes only.

    At most 60 characters, never empty (``"bizcase"``), never hidden or a path (``..``,
    ``/`` and ``\\`` become dashes), and never a name Windows reserves for a device
    (``CON``, ``NUL``, ``COM1`` ... get ``-case`` appended).
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    s = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    s = s[:60].strip("-") or "bizcase"
    return f"{s}-case" if s in _WINDOWS_RESERVED else s


def base_kpis(res: ModelResult, path: int = 0) -> dict[str, float]:
    return {k: float(v[path]) for k, v in res.kpis.items()}


def annual_records(res: ModelResult, path: int = 0) -> list[dict[str, Any]]:
    tl = res.timeline
    names = list(res.lines)
    rows = []
    for t in range(tl.n_periods):
        row: dict[str, Any] = {"year": int(tl.years[t]), "period": t, "operating_year": int(max(tl.operating_year[t], 0))}
        for name in names:
            row[name] = float(res.line(name)[path, t])
        rows.append(row)
    return rows


def partner_records(res: ModelResult, path: int = 0) -> list[dict[str, Any]]:
    keys = ("contributions_eur", "distributions_eur", "irr", "npv_eur", "moic", "peak_exposure_eur", "payback_year")
    out = []
    for pt in res.partners:
        rec: dict[str, Any] = {"name": pt["name"], "share": pt["share"], "cost_of_equity": pt["cost_of_equity"]}
        rec.update({k: float(np.asarray(pt[k])[path]) for k in keys})
        rec["cash_flow_eur"] = [float(v) for v in pt["cash_flow_eur"][path]]
        out.append(rec)
    return out


def manifest(res: ModelResult, *, simulations: int = 0, seed: int | None = None, sampling: str | None = None) -> dict[str, Any]:
    case = res.case
    return {
        "bizcase_version": __version__,
        "assumptions_file": case.file,
        "assumptions_sha256": case.sha256,
        "scenario": case.scenario,
        "overrides": dict(case.overrides),
        "seed": seed,
        "simulations": simulations,
        "sampling": sampling,
        "utc_timestamp": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
    }


def build(res: ModelResult, extra_kpis: dict[str, float] | None = None, **manifest_fields: Any) -> dict[str, Any]:
    """The results document of the base case (path 0)."""
    kpis = base_kpis(res)
    kpis.update(extra_kpis or {})
    ordered = {k: kpis[k] for k in KPI_ORDER if k in kpis}
    ordered.update({k: v for k, v in kpis.items() if k not in ordered})
    notes = {k: NA_REASONS.get(k, "no answer") for k, v in ordered.items() if not math.isfinite(v)}
    doc = {
        "project": res.case.data["project"]["name"],
        "kpis": ordered,
        "notes": notes,
        "annual": annual_records(res),
        "partners": partner_records(res),
        "checks": res.checks,
        "manifest": manifest(res, **manifest_fields),
    }
    return clean(doc)
