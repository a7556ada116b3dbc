"""Analysis on top of the engine: break-even solving (and, later, scenarios and sensitivity).

A break-even re-evaluates the whole case for each trial value, debt sizing included, so the
value found reproduces its target when fed back through ``bizcase run --set PATH=VALUE``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

from bizcase.assumptions import Case, field_of
from bizcase.engine import evaluate
from bizcase.errors import BizcaseError


def kpi_of(case: Case, path: str, kpi: str) -> Callable[[float], float]:
    """The function value -> KPI of the base case with ``path`` set to value."""

    def f(value: float) -> float:
        res = evaluate(case, {path: np.array([value])})
        return float(res.kpis[kpi][0])

    return f


def solve(case: Case, path: str, kpi: str, target: float, *, low: float | None = None, high: float | None = None, grid: int = 41) -> float:
    """The value of input ``path`` at which ``kpi`` equals ``target``.

    Brackets a sign change of ``kpi − target`` on a grid over the input's valid range
    (or ``[low, high]``), then refines with Brent's method to machine precision.

    Raises
    ------
    BizcaseError
        When no value in range reaches the target.
    """
    f_field = field_of(path)
    lo = low if low is not None else (f_field.low if f_field and f_field.low is not None else 0.0)
    hi = high if high is not None else (f_field.high if f_field and f_field.high is not None else 1.0)
    f = kpi_of(case, path, kpi)
    xs = np.linspace(lo, hi, grid)
    gs = np.array([f(x) - target for x in xs])
    for a, b, ga, gb in zip(xs[:-1], xs[1:], gs[:-1], gs[1:], strict=True):
        if math.isfinite(ga) and ga == 0.0:
            return float(a)
        if math.isfinite(ga) and math.isfinite(gb) and ga * gb < 0:
            return float(brentq(lambda x: f(x) - target, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200))
    if math.isfinite(gs[-1]) and gs[-1] == 0.0:
        return float(xs[-1])
    finite = gs[np.isfinite(gs)]
    span = f"from {np.min(finite) + target:.6g} to {np.max(finite) + target:.6g}" if len(finite) else "no value"
    raise BizcaseError(
        f"no value of {path} between {lo:g} and {hi:g} gives {kpi} = {target:g} ({kpi} ranges {span} there)"
    )


def breakeven_price(case: Case) -> float:
    """Launch price [EUR/GPU-hour] at which project NPV is zero; NaN when none in range."""
    try:
        return solve(case, "revenue.launch_price_eur_per_gpu_hour", "project_npv_eur", 0.0, low=0.0, high=50.0)
    except BizcaseError:
        return float("nan")
