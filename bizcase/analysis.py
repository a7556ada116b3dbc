"""Analysis on top of the engine: scenarios, sensitivity, break-even solving, EU funding gap.

Every analysis here re-evaluates the whole case for each trial value through
:meth:`Case.with_values` — the path ``bizcase run --set PATH=VALUE`` takes — so debt is
re-sized on each trial case exactly as a run would size it. A break-even value fed back
through ``--set`` therefore reproduces its target, and a tornado bar shows what a run with
that input would report (equity IRR included), not a result on a stale debt schedule.

Conventions
-----------
- KPIs are those of the engine (DESIGN "Outputs") plus :func:`extra_kpis`; money in
  nominal EUR, rates as decimal fractions per year.
- An input is named by its dotted path; its valid range is the one of the assumptions
  schema (:func:`bizcase.assumptions.field_of`). Integer inputs are rounded to whole values.
- A value with no answer (no IRR, an invalid trial case) is NaN in the library and
  ``null`` in JSON.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bizcase import results
from bizcase.assumptions import Case, check_numeric_path, field_of
from bizcase.engine import ModelResult, evaluate
from bizcase.errors import AssumptionError, BizcaseError
from bizcase.uncertainty import make_distribution

#: KPIs of the tornado and spider charts.
SENSITIVITY_KPIS = ("project_npv_eur", "equity_irr")

#: Changes of an input [percent of its base value] shown by the spider chart.
SPIDER_PCTS = (-20.0, -10.0, 0.0, 10.0, 20.0)

#: Default change [percent of base] of a chosen input in the tornado.
DEFAULT_PCT = 10.0

#: Capex classes of the model and the line item holding each [EUR/year].
CAPEX_CLASS_LINES = {
    "facility": "facility_capex_eur",
    "compute_initial": "compute_initial_capex_eur",
    "compute_refresh": "refresh_capex_eur",
}

#: Eligible classes assumed by the funding gap when the case has no grant (the schema default).
DEFAULT_ELIGIBLE = ("facility", "compute_initial")

#: KPIs added by :func:`extra_kpis`.
EXTRA_KPIS = (
    "funding_gap_rate",
    "funding_gap_grant_eur",
    "funding_gap_eligible_cost_eur",
    "funding_gap_dic_eur",
    "funding_gap_dnr_eur",
    "funding_gap_nominal_discount_rate",
)

#: Default discount rate of the funding-gap method [fraction/year] (Reg. (EU) 480/2014, Art. 19).
FUNDING_GAP_DISCOUNT_RATE = 0.04


# --- evaluating trial values ---------------------------------------------------------------


def _as_input_value(path: str, value: float) -> float | int:
    """A trial value as the schema stores it: integer inputs rounded to whole numbers."""
    f = field_of(path)
    return int(round(value)) if f is not None and f.kind == "int" else float(value)


def evaluate_with(case: Case, values: Mapping[str, float]) -> ModelResult:
    """Evaluate ``case`` with inputs set at dotted paths, as ``bizcase run --set`` would.

    Raises
    ------
    AssumptionError
        When the values make the case invalid (e.g. anchors above capacity).
    """
    trial = (
        case.with_values({p: _as_input_value(p, v) for p, v in values.items()}) if values else case
    )
    return evaluate(trial)


def all_kpis(case: Case, res: ModelResult) -> dict[str, float]:
    """Engine KPIs of path 0 plus :func:`extra_kpis` [see DESIGN "Outputs"]."""
    out = results.base_kpis(res)
    out.update(extra_kpis(case, res))
    return out


def kpis_at(case: Case, values: Mapping[str, float]) -> dict[str, float]:
    """All KPIs of ``case`` with ``values`` set; every KPI NaN when the trial case is invalid."""
    try:
        res = evaluate_with(case, values)
    except AssumptionError:
        return dict.fromkeys(known_kpis(case), math.nan)
    trial = res.case
    return all_kpis(trial, res)


def kpi_of(case: Case, path: str, kpi: str) -> Callable[[float], float]:
    """The function value -> ``kpi`` of ``case`` with input ``path`` set to value.

    NaN where the KPI has no answer or the value makes the case invalid.
    """
    engine_kpi = kpi not in EXTRA_KPIS

    def f(value: float) -> float:
        try:
            res = evaluate_with(case, {path: value})
        except AssumptionError:
            return math.nan
        if engine_kpi:
            return float(res.kpis[kpi][0])
        return extra_kpis(res.case, res)[kpi]

    return f


# --- checking names ------------------------------------------------------------------------


def known_kpis(case: Case) -> list[str]:
    """Names of every KPI that can be solved for or tabulated."""
    engine_names = list(evaluate(case).kpis)
    return engine_names + [k for k in EXTRA_KPIS if k not in engine_names]


def check_kpi(case: Case, kpi: str) -> None:
    """Raise a :class:`BizcaseError` with a did-you-mean hint unless ``kpi`` is a KPI name."""
    names = known_kpis(case)
    if kpi not in names:
        close = difflib.get_close_matches(kpi, names, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise BizcaseError(f"unknown KPI {kpi!r}{hint}; KPIs: {', '.join(names)}")


def check_input(case: Case, path: str) -> None:
    """Raise a :class:`BizcaseError` unless ``path`` is a numeric input that can vary."""
    why = check_numeric_path(case.data, path)
    if why is not None:
        raise BizcaseError(f"input {path!r} {why}")


def input_range(path: str) -> tuple[float, float]:
    """The valid range ``(low, high)`` of a numeric input [unit of the input]."""
    f = field_of(path)
    if f is None or f.low is None or f.high is None:
        raise BizcaseError(f"input {path!r} has no bounded valid range to search")
    return float(f.low), float(f.high)


# --- break-even ----------------------------------------------------------------------------


def solve(
    case: Case,
    path: str,
    kpi: str,
    target: float,
    *,
    low: float | None = None,
    high: float | None = None,
    grid: int = 41,
    around_current: bool = True,
) -> float:
    """The value of input ``path`` at which ``kpi`` equals ``target``.

    Parameters
    ----------
    case : Case
        The case; each trial value is set with :meth:`Case.with_values` and the case
        re-evaluated, debt sizing included.
    path : str
        Dotted path of a numeric input, e.g. ``"utilization.plateau"``.
    kpi : str
        A KPI name, e.g. ``"project_npv_eur"`` [its unit].
    target : float
        The KPI value to reach [unit of the KPI].
    low, high : float, optional
        Search range [unit of the input]; the input's valid range by default.
    grid : int, default 41
        Points of the even bracketing grid.
    around_current : bool, default True
        Also try points closing in on the input's current value (see :func:`search_grid`);
        a KPI known to be monotone and finite over the range needs only the even grid.

    Returns
    -------
    float
        The input value [unit of the input]; an integer input's value is rounded.

    Raises
    ------
    BizcaseError
        When no value in range reaches the target; the message names the input, the
        range and the span of the KPI there, and says when the KPI stops moving (a cap
        or a limit binds).

    Notes
    -----
    ``g(x) = kpi(x) − target`` is evaluated on :func:`search_grid` (an even grid over
    ``[low, high]`` plus points closing in geometrically on the input's current value);
    the first grid interval where ``g`` changes sign is refined by Brent's method to
    machine precision. A KPI that crosses the target several times yields the crossing
    with the lowest input value.
    """
    lo_default, hi_default = input_range(path)
    lo = lo_default if low is None else float(low)
    hi = hi_default if high is None else float(high)
    f = kpi_of(case, path, kpi)
    xs = (
        search_grid(lo, hi, float(case.get(path)), grid)
        if around_current
        else np.linspace(lo, hi, grid)
    )
    ys = np.array([f(float(x)) for x in xs])
    gs = ys - target
    for a, b, ga, gb in zip(xs[:-1], xs[1:], gs[:-1], gs[1:], strict=True):
        if math.isfinite(ga) and ga == 0.0:
            return float(_as_input_value(path, float(a)))
        if math.isfinite(ga) and math.isfinite(gb) and ga * gb < 0:
            from scipy.optimize import brentq  # imported when needed: slow to import

            root = brentq(
                lambda x: f(x) - target, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200
            )
            return float(_as_input_value(path, float(root)))
    if math.isfinite(gs[-1]) and gs[-1] == 0.0:
        return float(_as_input_value(path, float(xs[-1])))
    raise BizcaseError(_unreachable_message(case, path, kpi, target, lo, hi, xs, ys))


def search_grid(low: float, high: float, current: float, n: int = 41) -> np.ndarray:
    """Sorted trial values for bracketing: ``n`` even points over ``[low, high]`` and, when
    ``current`` lies inside, ``n // 2`` points each side of it at geometric distances.

    Wide valid ranges (a price between 0 and 1,000 EUR/GPU-hour) would otherwise step over
    the region near the case's own value, where an answer usually lies and where a KPI
    such as an IRR still has a value.

    Examples
    --------
    >>> search_grid(0.0, 1.0, 0.5, 3).tolist()
    [0.0, 0.5, 1.0]
    """
    even = np.linspace(low, high, n)
    if not low < current < high or n < 4:
        return np.unique(np.concatenate([even, [current]] if low <= current <= high else [even]))
    steps = np.geomspace(1e-3, 1.0, n // 2)
    near = np.concatenate(
        [current - (current - low) * steps, current + (high - current) * steps, [current]]
    )
    return np.unique(np.clip(np.concatenate([even, near]), low, high))


def _unreachable_message(
    case: Case,
    path: str,
    kpi: str,
    target: float,
    lo: float,
    hi: float,
    xs: np.ndarray,
    ys: np.ndarray,
) -> str:
    finite = np.isfinite(ys)
    if not finite.any():
        span = f"{kpi} has no value anywhere in that range"
    else:
        span = f"{kpi} ranges from {np.min(ys[finite]):.6g} to {np.max(ys[finite]):.6g} there"
    message = f"no value of {path} between {lo:g} and {hi:g} gives {kpi} = {target:g} ({span})"
    flat = _flat_from(xs, ys)
    if flat is not None:
        cap = _grant_cap_share(case, path)
        if cap is not None and cap[0] <= flat:
            share, cap_path, cap_eur = cap
            message += (
                f"; {kpi} stops moving above a share of {share:.6g}, where the grant reaches "
                f"its cap {cap_path} = {cap_eur:,.0f} EUR"
            )
        else:
            message += f"; {kpi} stops moving above {path} = {flat:.6g} (a cap or a limit binds)"
    return message


def _flat_from(xs: np.ndarray, ys: np.ndarray) -> float | None:
    """The grid value above which ``ys`` no longer changes, when the last two points agree."""
    if len(ys) < 3 or not np.all(np.isfinite(ys[-2:])):
        return None
    scale = max(1.0, float(np.nanmax(np.abs(ys))))
    moving = np.abs(ys - ys[-1]) > 1e-12 * scale
    if moving[-2] or not moving.any():
        return None
    last_moving = int(np.nonzero(moving)[0][-1])
    return float(xs[last_moving + 1])


def _grant_cap_share(case: Case, path: str) -> tuple[float, str, float] | None:
    """For ``grants.N.share_of_eligible_capex``: the share at which grant N hits its cap."""
    parts = path.split(".")
    if len(parts) != 3 or parts[0] != "grants" or parts[2] != "share_of_eligible_capex":
        return None
    index = int(parts[1])
    grant = case.data["grants"][index]
    res = evaluate(case)
    eligible = sum(float(res.line(CAPEX_CLASS_LINES[c])[0].sum()) for c in grant["eligible"])
    if eligible <= 0:
        return None
    return grant["cap_eur"] / eligible, f"grants.{index}.cap_eur", float(grant["cap_eur"])


@dataclass(frozen=True)
class Breakeven:
    """A solved break-even.

    Attributes
    ----------
    input : str
        Dotted path of the input solved for.
    value : float
        Its value reaching the target [unit of the input].
    kpi : str
        The KPI targeted.
    target : float
        The target [unit of the KPI].
    achieved : float
        The KPI re-evaluated with ``case.with_values({input: value})`` — what
        ``bizcase run --set input=value`` reports [unit of the KPI].
    """

    input: str
    value: float
    kpi: str
    target: float
    achieved: float

    def to_dict(self) -> dict[str, Any]:
        return results.clean(
            {
                "input": self.input,
                "value": self.value,
                "kpi": self.kpi,
                "target": self.target,
                "achieved": self.achieved,
            }
        )


def breakeven(case: Case, path: str, kpi: str, target: float) -> Breakeven:
    """Solve input ``path`` for ``kpi = target`` within its valid range; see :func:`solve`.

    Raises
    ------
    BizcaseError
        For an unknown or non-numeric input, an unknown KPI (both with a did-you-mean
        hint), or when no value in range reaches the target.
    """
    check_input(case, path)
    check_kpi(case, kpi)
    value = solve(case, path, kpi, target)
    achieved = kpi_of(case, path, kpi)(value)
    return Breakeven(path, value, kpi, float(target), achieved)


def breakeven_price(case: Case, base: ModelResult | None = None) -> float:
    """Launch price [EUR/GPU-hour] at which project NPV is zero; NaN when none in 0–50.

    Project NPV rises monotonically with the launch price (revenue is linear in it and
    tax takes less than all of a gain), so a coarse grid brackets the root. Project NPV
    is unlevered: it does not depend on the debt, so the grid is evaluated as paths of
    one engine call with the base case's debt, and Brent's method refines the bracket.
    The result is what ``bizcase run --set revenue.launch_price_eur_per_gpu_hour=…``
    reproduces.
    """
    path, kpi = "revenue.launch_price_eur_per_gpu_hour", "project_npv_eur"
    debt = (base if base is not None else evaluate(case)).debt
    prices = np.linspace(0.0, 50.0, 11)
    npvs = evaluate(case, {path: prices}, debt=debt, checks=False).kpis[kpi]

    def npv_at(price: float) -> float:
        return float(evaluate(case, {path: np.array([price])}, debt=debt, checks=False).kpis[kpi][0])

    for a, b, ya, yb in zip(prices[:-1], prices[1:], npvs[:-1], npvs[1:], strict=True):
        if ya == 0.0:
            return float(a)
        if ya * yb < 0:
            from scipy.optimize import brentq  # imported when needed: slow to import

            return float(brentq(npv_at, a, b, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200))
    return float(prices[-1]) if npvs[-1] == 0.0 else math.nan


# --- EU funding gap ------------------------------------------------------------------------


@dataclass(frozen=True)
class FundingGap:
    """The EU funding gap of a result, per path; each field has shape (n_paths,).

    Attributes
    ----------
    discount_rate : float
        Financial discount rate used [fraction/year].
    dic_eur : ndarray
        Discounted investment cost: initial and replacement capex, before grants [EUR].
    dnr_eur : ndarray
        Discounted net revenue: revenues − operating costs + residual value [EUR].
    rate : ndarray
        Funding-gap rate ``max(0, (DIC − DNR) / DIC)`` [fraction].
    eligible_cost_eur : ndarray
        Eligible cost EC, undiscounted [EUR].
    grant_eur : ndarray
        Grant the funding gap justifies, ``EC × rate`` [EUR].
    """

    discount_rate: float
    dic_eur: np.ndarray
    dnr_eur: np.ndarray
    rate: np.ndarray
    eligible_cost_eur: np.ndarray
    grant_eur: np.ndarray


def eligible_classes(case: Case) -> tuple[str, ...]:
    """Capex classes eligible under any grant of the case (the schema default when none)."""
    classes: list[str] = []
    for grant in case.data["grants"]:
        classes += [c for c in grant["eligible"] if c not in classes]
    ordered = tuple(c for c in CAPEX_CLASS_LINES if c in classes)
    return ordered or DEFAULT_ELIGIBLE


def funding_gap_rate_used(case: Case) -> float:
    """The nominal discount rate of the funding gap [fraction/year] (see :func:`funding_gap`)."""
    settings = case.data.get("funding_gap", {})
    rate = float(settings.get("discount_rate", FUNDING_GAP_DISCOUNT_RATE))
    if settings.get("rate_basis", "real") == "real":
        return (1.0 + rate) * (1.0 + float(case.data["project"]["inflation"])) - 1.0
    return rate


def funding_gap(res: ModelResult) -> FundingGap:
    """The funding gap of the European Commission's Guide to Cost-Benefit Analysis (2014).

    Parameters
    ----------
    res : ModelResult
        An evaluation; its case's ``[funding_gap] discount_rate`` (default 0.04) is used.

    Returns
    -------
    FundingGap

    Notes
    -----
    Following the Guide (§2.9 and Annex IV; Delegated Regulation (EU) 480/2014,
    Art. 15–19)::

        DIC = Σ_t capex_t × d_t                         (initial + replacement, before grants)
        DNR = Σ_t (revenue_t − opex_t + residual_t + resale_t) × d_t
        R   = max(0, (DIC − DNR) / DIC)                  funding-gap rate
        DA  = EC × R                                     decision amount

    with ``d_t`` the model's discount factors at the funding-gap rate (period t valued at
    1 January of ``start_year``: ``(1 + r)^−(t+1)`` for year-end flows, ``(1 + r)^−(t+½)``
    mid-year). Residual value is the model's terminal value; the proceeds of retired
    compute sold at each refresh (``compute_resale_eur``) are counted with it as residual
    value inflows in DNR, where the Guide puts the residual value of assets, rather than
    netted off DIC (replacement capex stays in DIC in full). Flows are before tax and
    financing, and grants are not deducted from DIC.

    EC is the Guide's *eligible cost*: the undiscounted capex of the classes eligible
    under the case's grants (``facility`` and ``compute_initial`` when the case has no
    grant), contingency and overrun included. The Guide's EU grant is
    ``DA × Max CRpa``, the co-financing rate of the programme's priority axis;
    ``grant_eur`` is DA, the grant before that cap.

    The Guide's 4 % is a real rate while bizcase's flows are nominal, and the Guide asks
    for a nominal rate with nominal flows: with ``rate_basis = "real"`` (the default) the
    rate used is ``(1 + discount_rate)(1 + project.inflation) − 1`` (6.08 % for 4 % at
    2 % inflation); with ``"nominal"`` it is ``discount_rate`` as given.
    """
    case = res.case
    rate = funding_gap_rate_used(case)
    factors = res.timeline.discount_factors(rate)
    dic = res.line("capex_eur") @ factors
    dnr = (
        res.line("revenue_eur") - res.line("opex_eur") + res.line("terminal_value_eur")
        + res.line("compute_resale_eur")
    ) @ factors
    gap_rate = np.divide(dic - dnr, dic, out=np.full(res.n_paths, np.nan), where=dic > 0)
    gap_rate = np.maximum(gap_rate, 0.0)
    eligible = sum(res.line(CAPEX_CLASS_LINES[c]).sum(axis=-1) for c in eligible_classes(case))
    eligible_cost = np.broadcast_to(np.asarray(eligible, dtype=float), (res.n_paths,))
    return FundingGap(rate, dic, dnr, gap_rate, eligible_cost, eligible_cost * gap_rate)


def extra_kpis(case: Case, base: ModelResult) -> dict[str, float]:
    """KPIs of analysis added to results.json: the EU funding gap of path 0.

    Returns
    -------
    dict
        ``funding_gap_rate`` [fraction], ``funding_gap_grant_eur`` [EUR] (compare with
        ``grants_eur``, the grants assumed), ``funding_gap_eligible_cost_eur``,
        ``funding_gap_dic_eur`` and ``funding_gap_dnr_eur`` [EUR]; see :func:`funding_gap`.
    """
    gap = funding_gap(base)
    return {
        "funding_gap_rate": float(gap.rate[0]),
        "funding_gap_grant_eur": float(gap.grant_eur[0]),
        "funding_gap_eligible_cost_eur": float(gap.eligible_cost_eur[0]),
        "funding_gap_dic_eur": float(gap.dic_eur[0]),
        "funding_gap_dnr_eur": float(gap.dnr_eur[0]),
        "funding_gap_nominal_discount_rate": gap.discount_rate,
    }


# --- scenarios -----------------------------------------------------------------------------


def case_kpis(case: Case, res: ModelResult | None = None) -> dict[str, Any]:
    """The KPIs of a case as results.json has them: engine, break-even price, funding gap."""
    res = evaluate(case) if res is None else res
    kpis = all_kpis(case, res)
    kpis["breakeven_price_eur_per_gpu_hour"] = breakeven_price(case)
    ordered = {k: kpis[k] for k in results.KPI_ORDER if k in kpis}
    ordered.update({k: v for k, v in kpis.items() if k not in ordered})
    return dict(results.clean(ordered))


def _root_case(case: Case) -> Case:
    """The case before its scenario overlay (and before its ``--set`` overrides).

    A case that is itself a scenario is reloaded from its file when the file still has
    the same SHA-256; otherwise the case itself is the root and overlays layer on it.
    """
    if case.scenario == "base":
        return case
    from bizcase.assumptions import load

    try:
        root = load(case.file)
    except (BizcaseError, OSError):
        return case
    return root if root.sha256 == case.sha256 else case


def scenario_cases(case: Case) -> list[Case]:
    """The base case and every ``[scenarios.*]`` overlay, each with the case's overrides.

    Overrides (``--set``) apply after the overlay, as in ``bizcase run --scenario S --set``.
    When ``case`` is a scenario whose file cannot be reloaded unchanged, the table starts
    with ``case`` itself and the other overlays are applied on top of it.
    """
    root = _root_case(case)
    overrides = dict(case.overrides)
    if root is case:
        first = case
        names = [n for n in case.scenario_names if n != case.scenario]
        others = [case.with_scenario(n) for n in names]
        if overrides:
            others = [c.with_values(overrides) for c in others]
        return [first, *others]
    out = []
    for name in ["base", *root.scenario_names]:
        c = root.with_scenario(name)
        out.append(c.with_values(overrides) if overrides else c)
    return out


def scenario_table(
    case: Case, *, current_kpis: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """KPIs of the base case and of every scenario overlay, side by side.

    Parameters
    ----------
    case : Case
        The case run (possibly a scenario itself, possibly with ``--set`` overrides).
    current_kpis : mapping, optional
        KPIs of ``case`` already computed (results.json's), reused for its own entry.

    Returns
    -------
    list of dict
        ``[{"scenario": name, "kpis": {...}}, ...]``, base first, then the file's
        scenarios in their order; KPIs as :func:`case_kpis` (JSON-safe, NaN as None).
    """
    table = []
    for c in scenario_cases(case):
        same = c.scenario == case.scenario and current_kpis is not None
        kpis = dict(current_kpis) if same and current_kpis is not None else case_kpis(c)
        table.append({"scenario": c.scenario, "kpis": kpis})
    return table


# --- sensitivity ---------------------------------------------------------------------------


def _clip(path: str, value: float) -> float:
    lo, hi = input_range(path)
    return float(_as_input_value(path, min(max(value, lo), hi)))


def sensitivity_inputs(
    case: Case,
    inputs: Sequence[str] | None = None,
    pct: float | None = None,
) -> list[tuple[str, float, float]]:
    """The inputs of a tornado with their low and high values [unit of each input].

    Each uncertain input (``[uncertainty.variables]``) at its P10 and P90, or — when
    ``inputs`` or ``pct`` is given — each input at ``base × (1 ∓ pct/100)``; values are
    clipped to the input's valid range and integer inputs rounded.
    """
    paths = list(inputs) if inputs else list(case.data["uncertainty"]["variables"])
    for path in paths:
        check_input(case, path)
    out = []
    if inputs or pct is not None:
        change = (DEFAULT_PCT if pct is None else float(pct)) / 100.0
        for path in paths:
            base = float(case.get(path))
            out.append(
                (path, _clip(path, base * (1.0 - change)), _clip(path, base * (1.0 + change)))
            )
        return out
    variables = case.data["uncertainty"]["variables"]
    for path in paths:
        dist = make_distribution(variables[path], f'{case.file}: uncertainty.variables."{path}"')
        p10, p90 = dist.p10_p90()
        out.append((path, _clip(path, p10), _clip(path, p90)))
    return out


def _swing(row: Mapping[str, Any]) -> float:
    low, high = row["kpi_low"], row["kpi_high"]
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return -math.inf
    return abs(high - low)


def tornado(
    case: Case,
    inputs: Sequence[str] | None = None,
    pct: float | None = None,
    kpis: Iterable[str] = SENSITIVITY_KPIS,
) -> dict[str, Any]:
    """One-at-a-time sensitivity of project NPV and equity IRR: tornado and spider data.

    Parameters
    ----------
    case : Case
        The case.
    inputs : sequence of str, optional
        Dotted paths to vary by ``± pct`` of their base value; the uncertain inputs
        at their P10 and P90 by default.
    pct : float, optional
        Change [percent of base]; 10 when ``inputs`` are given without it.
    kpis : iterable of str
        KPIs to report.

    Returns
    -------
    dict
        ``tornado``: rows ``{"input", "low_value", "high_value", "kpi", "kpi_low",
        "kpi_high"}``, grouped by KPI and ordered by swing ``|kpi_high − kpi_low|``,
        largest first (rows without an answer last); ``spider``: ``{"pcts": [...],
        "series": [{"input", "values", "kpis": {kpi: [...]}}]}`` with each input at
        ``base × (1 + pct/100)`` (clipped to its range); ``base``: the KPIs of the case;
        ``method``: ``"p10_p90"`` or ``"pct"``; ``pct``: the change used (or None).
        JSON-safe (NaN as None).

    Notes
    -----
    Each value is set through :meth:`Case.with_values` and the case re-evaluated, so debt
    is re-sized on each trial case, as ``bizcase run --set`` and :func:`solve` do.
    """
    kpi_names = tuple(kpis)
    for kpi in kpi_names:
        check_kpi(case, kpi)
    cache: dict[tuple[str, float], dict[str, float]] = {}

    def at(path: str, value: float) -> dict[str, float]:
        key = (path, float(value))
        if key not in cache:
            cache[key] = kpis_at(case, {path: value})
        return cache[key]

    base_all = all_kpis(case, evaluate(case))
    base = {k: base_all[k] for k in kpi_names}
    chosen = sensitivity_inputs(case, inputs, pct)
    rows: list[dict[str, Any]] = []
    for kpi in kpi_names:
        group = []
        for path, low, high in chosen:
            group.append(
                {
                    "input": path,
                    "low_value": low,
                    "high_value": high,
                    "kpi": kpi,
                    "kpi_low": at(path, low)[kpi],
                    "kpi_high": at(path, high)[kpi],
                }
            )
        group.sort(key=_swing, reverse=True)
        rows += group
    series = []
    for path, _, _ in chosen:
        base_value = float(case.get(path))
        values = [_clip(path, base_value * (1.0 + p / 100.0)) for p in SPIDER_PCTS]
        points = [base_all if v == base_value else at(path, v) for v in values]
        series.append(
            {
                "input": path,
                "values": values,
                "kpis": {k: [pt[k] for pt in points] for k in kpi_names},
            }
        )
    method = "pct" if (inputs or pct is not None) else "p10_p90"
    used_pct = (DEFAULT_PCT if pct is None else float(pct)) if method == "pct" else None
    return dict(
        results.clean(
            {
                "method": method,
                "pct": used_pct,
                "kpis": list(kpi_names),
                "tornado": rows,
                "spider": {"pcts": list(SPIDER_PCTS), "series": series},
                "base": base,
            }
        )
    )
