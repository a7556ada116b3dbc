"""The cash-flow engine: every line item of the business case, vectorized over paths.

Conventions
-----------
- Arrays are ``(n_paths, T)``: paths first, periods last. A line that no uncertain input
  touches stays ``(1, T)`` and broadcasts; :meth:`ModelResult.line` broadcasts on request.
  The base case is one path.
- Money is nominal EUR; cash in is positive in flow lines, while cost and capex lines are
  positive amounts that are subtracted (their names say so).
- Flows fall at period end. Period t is calendar year ``start_year + t``; operating year
  ``y = t − construction_years + 1``.
- Debt is sized once, on the base case, and held fixed across paths (:class:`DebtSchedule`):
  lenders do not re-size per scenario. Each path then has its own CFADS, DSCRs, covenant
  breaches, equity calls and partner flows.

The model (see DESIGN, "The model") in the order it is computed:

capacity → demand and revenue → power → opex → EBITDA → capex and resale of retired compute
→ grants → depreciation → unlevered tax → debt → IDC depreciation → levered tax → CFADS
→ equity waterfall → project and equity cash flows → KPIs.

Resale of retired compute: when a cohort is refreshed (purchase paid in period q), the
generation it replaces (paid in q − life) is sold at the end of q for
``compute_resale_share`` × its purchase cost (contingency and overrun included). The
proceeds (``compute_resale_eur``) are a taxable gain in EBIT (the generation is fully
depreciated by then), an inflow of the project and equity cash flows and a source of
cash; they are not part of EBITDA or CFADS.

Interest during construction (IDC): interest on the opening debt balance in construction
periods is capitalised into the loan (``interest_capitalised_eur``). With
``tax.capitalise_construction_interest`` (IAS 23) its total is part of the facility's cost:
``idc_depreciation_eur`` = total IDC / ``facility_life_years`` in each period of the
facility's depreciation window (from the first operating period), not reduced by grants
(they are paid on eligible capex). It is deducted in the levered tax only:
EBT = EBIT − interest paid − debt fees − IDC depreciation. The project view has no
financing, so EBIT, the unlevered tax, the project cash flow and the terminal value leave
it out: the terminal value stays ``residual_value_share`` × the book value of the plant
and compute, which keeps the project KPIs and the EU funding gap independent of the debt
terms (IDC depreciation not taken by the end of the horizon is not recovered, like the
rest of the book value). The debt is fixed from the base case, so IDC and its depreciation
are the same on every path; debt sizing, which precedes the levered tax, does not see it.

Distribution lock-up: the lock-up ratio of a period is the highest ``lockup_dscr`` of the
tranches with debt outstanding (0: none). In an operating period with debt service whose
DSCR is below it (not the last period), the surplus is retained in a lock-up account in
the project company, earning nothing, and a shortfall is covered from the account before
partners are called. In any other period the whole account is released with that
period's surplus, so nothing stays trapped at the end. Retained cash is a use of cash,
released cash a source; together with the DSRA it is the project company's cash.

Debt service reserve account (DSRA), "maintained at target": at the end of period t the
account holds Σ over tranches of ``dsra_months`` / 12 × that tranche's debt service
(interest paid + principal) in period t + 1, so 0 in the last period and once no debt
service remains. The debt schedule is fixed from the base case, so the target is the same
on every path. The movement ``dsra_funding_eur`` = target_t − target_{t−1} is a use of
cash in the equity waterfall before distributions and the lock-up (negative: a release,
which flows to equity). The DSRA is not debt-funded: its first funding, usually in the
year before the first debt service, falls on equity (contributions or calls when net cash
is negative). It earns no interest. Simplification: the DSRA is never drawn to pay debt
service (a shortfall is met by equity calls, as without it), so it stays at target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bizcase import finance
from bizcase.assumptions import Case
from bizcase.timeline import Timeline, from_case

HOURS_PER_YEAR = 8760.0
Array = np.ndarray
Number = float | np.ndarray


@dataclass(frozen=True)
class Tranche:
    """The fixed schedule of one debt tranche, shape (T,) each [EUR]."""

    name: str
    interest_rate: float
    draws: Array
    interest_capitalised: Array
    interest_paid: Array
    principal: Array
    fees: Array
    balance: Array  # closing balance
    first_repayment_period: int
    last_repayment_period: int
    min_dscr_covenant: float
    lockup_dscr: float = 0.0  # distribution lock-up ratio; 0 = none
    dsra_months: float = 0.0  # months of the next period's debt service held in reserve; 0 = none

    @property
    def debt_service(self) -> Array:
        """Interest paid + principal, shape (T,) [EUR]."""
        return self.interest_paid + self.principal


@dataclass(frozen=True)
class DebtSchedule:
    """All tranches, sized on the base case [EUR]."""

    tranches: tuple[Tranche, ...]
    n_periods: int

    def total(self, name: str) -> Array:
        out = np.zeros(self.n_periods)
        for t in self.tranches:
            out = out + getattr(t, name)
        return out[None, :]

    def lockup_ratio(self) -> Array:
        """Distribution lock-up ratio per period, shape (1, T) [x].

        The highest ``lockup_dscr`` of the tranches with debt outstanding at the start of
        the period (opening balance > 0); 0 when no tranche has debt then.
        """
        out = np.zeros(self.n_periods)
        for t in self.tranches:
            opening = np.concatenate([[0.0], t.balance[:-1]])
            out = np.maximum(out, np.where(opening > 0.0, t.lockup_dscr, 0.0))
        return out[None, :]

    def dsra_target(self) -> Array:
        """Debt service reserve target at each period end, shape (1, T) [EUR].

        Notes
        -----
        ``target_t = Σ_tranches dsra_months / 12 × debt_service_{t+1}``, with no debt
        service after the last period (target 0 there).
        """
        out = np.zeros(self.n_periods)
        for t in self.tranches:
            following = np.concatenate([t.debt_service[1:], [0.0]])
            out = out + t.dsra_months / 12.0 * following
        return out[None, :]


@dataclass
class ModelResult:
    """Line items and per-path KPIs of one evaluation.

    Attributes
    ----------
    case : Case
        The assumptions evaluated.
    timeline : Timeline
        The periods.
    n_paths : int
        Number of paths.
    lines : dict[str, ndarray]
        Line item -> array broadcastable to (n_paths, T) [EUR unless the name says].
    kpis : dict[str, ndarray]
        KPI -> array (n_paths,) (see DESIGN "Outputs").
    partners : list[dict[str, ndarray]]
        Per partner: flows (n_paths, T) and KPIs (n_paths,).
    debt : DebtSchedule
        The fixed debt schedule.
    """

    case: Case
    timeline: Timeline
    n_paths: int
    lines: dict[str, Array]
    kpis: dict[str, Array]
    partners: list[dict[str, Any]]
    debt: DebtSchedule
    checks: list[dict[str, Any]] = field(default_factory=list)

    def line(self, name: str) -> Array:
        return np.broadcast_to(self.lines[name], (self.n_paths, self.timeline.n_periods))


class Inputs:
    """Numeric inputs: a value from the case, or per-path draws of shape (n_paths, 1)."""

    def __init__(self, case: Case, draws: Mapping[str, Array] | None = None):
        self.case = case
        self.draws = {k: np.asarray(v, dtype=float).reshape(-1, 1) for k, v in (draws or {}).items()}

    def __call__(self, path: str) -> Number:
        if path in self.draws:
            return self.draws[path]
        return float(self.case.get(path))


# --- pure steps ---------------------------------------------------------------------------


def cohort_purchases(tl: Timeline, deployment: list[float], life: int) -> list[tuple[int, int, bool]]:
    """Compute purchases as ``(cohort, period paid, is_refresh)``.

    Cohort k goes live in operating year k + 1 (period C + k); it is paid in the period
    before it goes live and replaced every ``life`` years, the replacement paid in the
    last year of the old cohort's life, as long as it goes live within the horizon.
    """
    out = []
    for k in range(len(deployment)):
        live = tl.construction_years + k
        m = 0
        while live + m * life <= tl.n_periods - 1:
            out.append((k, live + m * life - 1, m > 0))
            m += 1
    return out


def market_utilization(tl: Timeline, start: Number, plateau: Number, midpoint: Number, steepness: Number, noise: Array | None) -> Array:
    """Logistic ramp of market utilization, plus noise, clipped to [0, 1]; 0 in construction [fraction]."""
    y = tl.operating_year[None, :].astype(float)
    u = start + (plateau - start) / (1.0 + np.exp(-steepness * (y - midpoint)))
    if noise is not None:
        u = u + noise
    return np.where(tl.is_operation, np.clip(u, 0.0, 1.0), 0.0)


def lockup_account(net: Array, locked: Array) -> tuple[Array, Array, Array]:
    """The lock-up account of the equity waterfall: cash retained in the project company.

    Parameters
    ----------
    net : ndarray (n_paths, T)
        Net cash to equity before the lock-up [EUR].
    locked : ndarray of bool, broadcastable to ``net``
        Periods whose distributions are locked up (DSCR below the lock-up ratio).

    Returns
    -------
    retained, released, balance : ndarray (n_paths, T)
        Cash paid into the account, paid out of it, and its closing balance [EUR].

    Notes
    -----
    With ``B`` the opening balance of period t:

    - locked: the surplus is retained, ``retained = max(net, 0)``; a shortfall is covered
      from the account first, ``released = min(B, max(−net, 0))``;
    - not locked: the whole balance is released, ``released = B``;
    - closing balance = B + retained − released (never negative; it earns nothing).

    Cash to equity after the lock-up is ``net + released − retained``. The balance is a
    recurrence over periods (a reset to 0 whenever the lock-up lifts), so this loops over
    periods, vectorized over paths.
    """
    shape = np.broadcast_shapes(np.shape(net), np.shape(locked))
    net = np.broadcast_to(net, shape)
    locked = np.broadcast_to(locked, shape)
    retained = np.where(locked, np.maximum(net, 0.0), 0.0)
    released = np.zeros(shape)
    balance = np.zeros(shape)
    opening = np.zeros(shape[:-1])
    for t in range(shape[-1]):  # balance recurrence
        released[..., t] = np.where(locked[..., t], np.minimum(opening, np.maximum(-net[..., t], 0.0)), opening)
        balance[..., t] = opening + retained[..., t] - released[..., t]
        opening = balance[..., t]
    return retained, released, balance


def _tax(
    profit: Array,
    rate: Number,
    carry_forward: bool,
    threshold: Number = np.inf,
    share: Number = 1.0,
) -> tuple[Array, Array, Array]:
    """Tax on a profit line with loss carry-forward under minimum taxation.

    Parameters
    ----------
    profit : ndarray (n_paths or 1, T)
        Profit before tax (EBIT or EBT) [EUR].
    rate : float or ndarray (n_paths, 1)
        Tax rate [fraction].
    carry_forward : bool
        Losses are carried forward; otherwise each year is taxed on its own.
    threshold : float or ndarray (n_paths, 1), default inf
        Profit of a year that losses brought forward may offset in full [EUR/year].
    share : float or ndarray (n_paths, 1), default 1
        Share of the profit above ``threshold`` that they may offset [fraction].

    Returns
    -------
    tax : ndarray
        rate × taxable profit [EUR].
    pool : ndarray
        Losses carried forward at the end of each period [EUR].
    offset : ndarray
        Losses brought forward used against the period's profit [EUR].

    Notes
    -----
    With pool_{t−1} the losses brought forward (pool_{−1} = 0), gain_t = max(profit_t, 0)
    and loss_t = max(−profit_t, 0):

    - allowance_t = min(gain_t, threshold) + share × max(gain_t − threshold, 0), the most
      that may be offset (German minimum taxation, § 10d EStG);
    - offset_t = min(pool_{t−1}, allowance_t); taxable_t = gain_t − offset_t;
    - pool_t = pool_{t−1} − offset_t + loss_t.

    A year has either a gain or a loss, so pool_t = max(0, pool_{t−1} + loss_t − allowance_t):
    a Lindley recursion, solved without a loop over periods as pool = S − min(0, running min S)
    with S the cumulative sum of loss − allowance. With share = 1 or a threshold no profit
    reaches, allowance = gain exactly and loss − allowance = −profit, so the result is the
    unlimited carry-forward, unchanged to the last bit.

    Examples
    --------
    >>> tax, pool, offset = _tax(np.array([[-5.0, 2.0, 3.0, 4.0]]), 0.25, True, 1.0, 0.6)
    >>> pool.round(6).tolist(), offset.round(6).tolist(), tax.round(6).tolist()
    ([[5.0, 3.4, 1.2, 0.0]], [[0.0, 1.6, 2.2, 1.2]], [[0.0, 0.1, 0.2, 0.7]])
    """
    gain = np.maximum(profit, 0.0)
    if not carry_forward:
        zeros = np.zeros_like(gain)
        return rate * gain, zeros, zeros
    allowance = np.minimum(gain, threshold) + share * np.maximum(gain - threshold, 0.0)
    s = np.cumsum(np.maximum(-profit, 0.0) - allowance, axis=-1)
    pool = s - np.minimum(np.minimum.accumulate(s, axis=-1), 0.0)
    opening = np.concatenate([np.zeros_like(pool[..., :1]), pool[..., :-1]], axis=-1)
    offset = np.minimum(opening, allowance)
    return rate * (gain - offset), pool, offset


# --- the model ----------------------------------------------------------------------------


def evaluate(
    case: Case,
    draws: Mapping[str, Array] | None = None,
    *,
    n_paths: int | None = None,
    utilization_noise: Array | None = None,
    power_price_multiplier: Array | None = None,
    debt: DebtSchedule | None = None,
    checks: bool = True,
) -> ModelResult:
    """Evaluate the business case on one or many paths.

    Parameters
    ----------
    case : Case
        Validated assumptions.
    draws : mapping of dotted path -> ndarray (n_paths,), optional
        Per-path values of uncertain numeric inputs.
    n_paths : int, optional
        Number of paths (inferred from draws or noise; 1 for the base case).
    utilization_noise : ndarray (n_paths, T), optional
        Additive noise on market utilization [fraction].
    power_price_multiplier : ndarray (n_paths, T), optional
        Multiplier on the market power price [ratio].
    debt : DebtSchedule, optional
        A fixed debt schedule; sized here from this evaluation when omitted (only
        allowed on one path, or when no draw changes the base case).
    checks : bool, default True
        Compute the integrity checks (``ModelResult.checks`` stays empty when False).

    Returns
    -------
    ModelResult
    """
    tl = from_case(case.data)
    p = Inputs(case, draws)
    n = n_paths or _infer_paths(p.draws, utilization_noise, power_price_multiplier)
    T, C = tl.n_periods, tl.construction_years
    op = tl.is_operation[None, :]
    y = tl.operating_year[None, :].astype(float)
    data = case.data
    L: dict[str, Any] = {}

    # capacity: cohorts and their ages
    deployment = data["site"]["deployment"]
    life = int(data["capex"]["compute_life_years"])
    gpus = p("site.gpus")
    live_share = np.zeros((1, T))
    for k, s in enumerate(deployment):
        live_share = live_share + s * (tl.periods >= C + k)
    L["live_gpus"] = gpus * live_share
    L["sellable_gpu_hours"] = L["live_gpus"] * HOURS_PER_YEAR * p("site.availability")

    # market price of the fleet: capacity-weighted over live cohorts of age a
    decline = p("revenue.price_decline")
    age_weighted = np.zeros((1, T))
    for k, s in enumerate(deployment):
        live = tl.periods >= C + k
        age = np.where(live, (tl.periods - (C + k)) % life, 0)
        age_weighted = age_weighted + s * live * (1.0 - decline) ** age
    fleet_factor = np.divide(age_weighted, live_share, out=np.zeros_like(age_weighted * live_share), where=live_share > 0)
    launch = p("revenue.launch_price_eur_per_gpu_hour") * (1.0 + p("revenue.launch_price_change")) ** (y - 1.0)
    L["market_price_eur_per_gpu_hour"] = np.where(op, launch * fleet_factor, 0.0)

    # demand: public access, anchors (take-or-pay), market
    public_share = p("public_access.share")
    L["public_gpu_hours"] = public_share * L["sellable_gpu_hours"]
    anchor_hours = np.zeros((1, T))
    anchor_revenue = np.zeros((1, T))
    for i, c in enumerate(data["customers"]):
        active = (y >= c["first_operating_year"]) & (y < c["first_operating_year"] + c["years"])
        hours = active * p(f"customers.{i}.gpus") * HOURS_PER_YEAR * p("site.availability")
        price = p(f"customers.{i}.price_eur_per_gpu_hour") * (1.0 + p(f"customers.{i}.escalation")) ** (y - c["first_operating_year"])
        anchor_hours = anchor_hours + hours
        anchor_revenue = anchor_revenue + hours * price
    room = L["sellable_gpu_hours"] - L["public_gpu_hours"]
    anchor_scale = np.divide(room, anchor_hours, out=np.ones_like(room * anchor_hours), where=anchor_hours > room)
    anchor_scale = np.minimum(anchor_scale, 1.0)
    L["anchor_gpu_hours"] = anchor_hours * anchor_scale
    L["anchor_revenue_eur"] = anchor_revenue * anchor_scale
    L["market_capacity_gpu_hours"] = room - L["anchor_gpu_hours"]
    L["market_utilization"] = market_utilization(
        tl, p("utilization.start"), p("utilization.plateau"), p("utilization.midpoint_year"),
        p("utilization.steepness"), utilization_noise,
    )
    L["market_gpu_hours"] = L["market_capacity_gpu_hours"] * L["market_utilization"]
    L["market_revenue_eur"] = L["market_gpu_hours"] * L["market_price_eur_per_gpu_hour"]
    L["public_revenue_eur"] = L["public_gpu_hours"] * L["market_price_eur_per_gpu_hour"] * (1.0 - p("public_access.price_discount"))
    L["revenue_eur"] = L["anchor_revenue_eur"] + L["public_revenue_eur"] + L["market_revenue_eur"]
    L["gpu_hours_sold"] = L["anchor_gpu_hours"] + L["public_gpu_hours"] + L["market_gpu_hours"]
    sellable = L["sellable_gpu_hours"]
    L["overall_utilization"] = np.divide(L["gpu_hours_sold"], sellable, out=np.zeros_like(L["gpu_hours_sold"] * sellable), where=sellable > 0)

    # power
    idle = p("opex.idle_power_share")
    L["power_mwh"] = (
        L["live_gpus"] * p("site.it_kw_per_gpu") * (idle + (1.0 - idle) * L["overall_utilization"])
        * p("site.pue") * HOURS_PER_YEAR / 1000.0
    )
    escalation = np.where(op, (1.0 + p("opex.power_price_escalation")) ** (y - 1.0), 0.0)
    market_power = p("opex.power_price_eur_per_mwh") * escalation
    if power_price_multiplier is not None:
        market_power = market_power * power_price_multiplier
    ppa = p("opex.ppa_share")
    L["power_price_eur_per_mwh"] = ppa * p("opex.ppa_price_eur_per_mwh") * escalation + (1.0 - ppa) * market_power
    L["power_cost_eur"] = L["power_mwh"] * L["power_price_eur_per_mwh"]

    # capex
    capex_factor = (1.0 + p("capex.contingency")) * (1.0 + p("capex.overrun"))
    it_mw = gpus * p("site.it_kw_per_gpu") / 1000.0
    facility_total = (it_mw * p("capex.facility_eur_per_mw") + p("capex.grid_and_land_eur")) * capex_factor
    spend = np.zeros((1, T))
    spend[0, :C] = data["capex"]["spend_profile"]
    L["facility_capex_eur"] = facility_total * spend
    unit_cost = p("capex.compute_eur_per_gpu")
    cost_change = p("capex.compute_cost_change")
    purchases = cohort_purchases(tl, deployment, life)
    initial = np.zeros((1, T))
    refresh = np.zeros((1, T))
    resale_share = p("capex.compute_resale_share")
    resale = np.zeros((1, T))
    purchase_cost: list[tuple[int, bool, Number]] = []
    in_service: dict[int, Number] = {}  # cohort -> purchase cost of its generation in service
    for k, period, is_refresh in purchases:  # each cohort's purchases in time order
        onehot = tl.periods == period
        if is_refresh:
            cost = deployment[k] * gpus * unit_cost * (1.0 + cost_change) ** period * capex_factor
            refresh = refresh + cost * onehot
            # the generation bought at period − life retires and is sold at the end of this period
            resale = resale + resale_share * in_service[k] * onehot
        else:
            cost = deployment[k] * gpus * unit_cost * capex_factor
            initial = initial + cost * onehot
        in_service[k] = cost
        purchase_cost.append((period, is_refresh, cost))
    L["compute_initial_capex_eur"] = initial
    L["refresh_capex_eur"] = refresh
    L["initial_capex_eur"] = L["facility_capex_eur"] + initial
    L["capex_eur"] = L["initial_capex_eur"] + refresh
    L["compute_resale_eur"] = resale

    # grants: min(share × eligible, cap), received pro rata to eligible spend
    classes = {"facility": L["facility_capex_eur"], "compute_initial": initial, "compute_refresh": refresh}
    L["grants_eur"] = np.zeros((1, T))
    grant_rate = {c: 0.0 for c in classes}
    grants_total = []
    for g, grant in enumerate(data["grants"]):
        eligible = sum(classes[c] for c in grant["eligible"])
        eligible_total = np.sum(eligible, axis=-1, keepdims=True)
        rate = np.minimum(
            p(f"grants.{g}.share_of_eligible_capex"),
            _safe_divide(p(f"grants.{g}.cap_eur"), eligible_total),
        )
        received = rate * eligible
        L[f"grant_{g}_eur"] = received
        grants_total.append(np.sum(received, axis=-1))
        L["grants_eur"] = L["grants_eur"] + received
        for c in grant["eligible"]:
            grant_rate[c] = grant_rate[c] + rate
    L["grants_on_initial_eur"] = grant_rate["facility"] * L["facility_capex_eur"] + grant_rate["compute_initial"] * initial

    # depreciation, straight line from go-live, per asset class
    reduce = bool(data["tax"]["grants_reduce_asset_base"])
    fac_life = int(data["capex"]["facility_life_years"])
    fac_base = np.sum(L["facility_capex_eur"] * (1.0 - (grant_rate["facility"] if reduce else 0.0)), axis=-1, keepdims=True)
    fac_dep_window = (tl.periods >= C) & (tl.periods < C + fac_life)
    L["facility_depreciation_eur"] = fac_base / fac_life * fac_dep_window
    compute_dep = np.zeros((1, T))
    compute_book_end: Number = 0.0
    for period, is_refresh, cost in purchase_cost:
        rate = grant_rate["compute_refresh" if is_refresh else "compute_initial"] if reduce else 0.0
        base = cost * (1.0 - rate)
        window = (tl.periods > period) & (tl.periods <= period + life)
        compute_dep = compute_dep + base / life * window
        years_left = max(0, period + life - (T - 1))
        compute_book_end = compute_book_end + base * years_left / life
    L["compute_depreciation_eur"] = compute_dep
    L["depreciation_eur"] = L["facility_depreciation_eur"] + compute_dep
    fac_book_end = fac_base * max(0, fac_life - tl.operating_years) / fac_life
    book_end = fac_book_end + compute_book_end
    last = tl.periods == T - 1
    L["terminal_value_eur"] = p("capex.residual_value_share") * np.reshape(book_end, (-1, 1)) * last

    # operating costs and EBITDA
    infl = np.where(op, (1.0 + p("project.inflation")) ** (y - 1.0), 0.0)
    initial_capex_total = np.sum(L["initial_capex_eur"], axis=-1, keepdims=True)
    L["staff_cost_eur"] = p("opex.staff_eur_per_year") * infl
    L["maintenance_cost_eur"] = p("opex.maintenance_share_of_capex") * initial_capex_total * infl
    L["insurance_cost_eur"] = p("opex.insurance_share_of_capex") * initial_capex_total * infl
    L["software_cost_eur"] = p("opex.software_eur_per_gpu_year") * L["live_gpus"] * infl
    L["sga_cost_eur"] = p("opex.sga_share_of_revenue") * L["revenue_eur"]
    L["opex_eur"] = (
        L["power_cost_eur"] + L["staff_cost_eur"] + L["maintenance_cost_eur"]
        + L["insurance_cost_eur"] + L["software_cost_eur"] + L["sga_cost_eur"]
    )
    L["ebitda_eur"] = L["revenue_eur"] - L["opex_eur"]
    # EBITDA stays operating; resale proceeds are a gain below it. A retiring generation
    # was depreciated over periods q − life + 1 … q, so its book value at the sale in q
    # is 0 (also when grants reduced its base) and the whole proceeds are taxable.
    L["ebit_eur"] = L["ebitda_eur"] - L["depreciation_eur"] + L["compute_resale_eur"]

    # unlevered tax (project view)
    tax_rate = p("tax.rate")
    carry = bool(data["tax"]["loss_carry_forward"])
    offset_limit = (p("tax.loss_offset_threshold_eur"), p("tax.loss_offset_share_above_threshold"))
    L["unlevered_tax_eur"], _, _ = _tax(L["ebit_eur"], tax_rate, carry, *offset_limit)

    # debt, sized once on the base case
    if debt is None:
        if n > 1 and (p.draws or utilization_noise is not None or power_price_multiplier is not None):
            raise ValueError("debt must be sized on the base case before evaluating several paths")
        debt = size_debt(case, tl, L)
    L["debt_drawdown_eur"] = debt.total("draws")
    L["interest_capitalised_eur"] = debt.total("interest_capitalised")
    L["interest_paid_eur"] = debt.total("interest_paid")
    L["principal_eur"] = debt.total("principal")
    L["debt_fees_eur"] = debt.total("fees")
    L["debt_service_eur"] = L["interest_paid_eur"] + L["principal_eur"]
    L["debt_balance_eur"] = debt.total("balance")

    # interest capitalised during construction is part of the facility's cost (IAS 23),
    # depreciated with it from go-live; fixed with the debt, so the same on every path.
    # Grants do not reduce it. Only the levered tax sees it (see the module docstring).
    if data["tax"]["capitalise_construction_interest"]:
        idc_base = np.sum(L["interest_capitalised_eur"], axis=-1, keepdims=True)
        L["idc_depreciation_eur"] = idc_base / fac_life * fac_dep_window
    else:
        L["idc_depreciation_eur"] = np.zeros((1, T))

    # levered tax and CFADS
    L["ebt_eur"] = L["ebit_eur"] - L["interest_paid_eur"] - L["debt_fees_eur"] - L["idc_depreciation_eur"]
    L["tax_eur"], L["tax_loss_pool_eur"], L["tax_loss_offset_eur"] = _tax(L["ebt_eur"], tax_rate, carry, *offset_limit)
    # CFADS stays EBITDA − tax: resale proceeds are not operating cash (the tax on them is
    # in tax_eur); they reach equity through the waterfall below.
    L["cfads_eur"] = L["ebitda_eur"] - L["tax_eur"]
    ds = L["debt_service_eur"]
    with np.errstate(over="ignore"):  # a vanishing debt service gives an infinite cover
        L["dscr"] = np.divide(L["cfads_eur"], ds, out=np.full(np.broadcast_shapes(L["cfads_eur"].shape, ds.shape), np.nan), where=ds > 0)

    # debt service reserve, maintained at target (fixed with the debt: the same on every
    # path); its movement is a use of cash before distributions, a release a source
    L["dsra_target_eur"] = debt.dsra_target()
    L["dsra_funding_eur"] = np.diff(L["dsra_target_eur"], axis=-1, prepend=0.0)

    # equity waterfall: after the DSRA movement, shortfalls are paid in by partners,
    # surpluses distributed, except that a surplus is retained in a lock-up account (earning nothing) while the DSCR is
    # below the lock-up ratio; the account covers shortfalls before partners are called
    # and is released in full once the DSCR recovers, after the last repayment or at the end
    L["net_cash_to_equity_eur"] = (
        L["cfads_eur"] + L["grants_eur"] + L["debt_drawdown_eur"] - L["capex_eur"]
        - L["debt_fees_eur"] - ds + L["terminal_value_eur"] + L["compute_resale_eur"]
        - L["dsra_funding_eur"]
    )
    net = L["net_cash_to_equity_eur"]
    L["lockup_ratio"] = debt.lockup_ratio()
    ratio = L["lockup_ratio"]
    below = np.where(ds > 0, L["dscr"], np.inf) < ratio
    locked = op & (ds > 0) & (ratio > 0) & below & (tl.periods < T - 1)
    L["lockup_flag"] = locked.astype(float)
    L["lockup_retained_eur"], L["lockup_released_eur"], L["lockup_balance_eur"] = lockup_account(net, locked)
    to_equity = net + L["lockup_released_eur"] - L["lockup_retained_eur"]
    funding = (L["initial_capex_eur"] > 0) | (tl.periods < C)
    shortfall = np.maximum(-to_equity, 0.0)
    L["equity_contributions_eur"] = np.where(funding, shortfall, 0.0)
    L["equity_calls_eur"] = np.where(funding, 0.0, shortfall)
    L["distributions_eur"] = np.maximum(to_equity, 0.0)
    L["equity_cash_flow_eur"] = to_equity
    L["project_cash_flow_eur"] = (
        L["ebitda_eur"] - L["capex_eur"] + L["grants_eur"] - L["unlevered_tax_eur"] + L["terminal_value_eur"]
        + L["compute_resale_eur"]
    )
    L["cumulative_equity_cash_flow_eur"] = np.cumsum(to_equity, axis=-1)

    result = ModelResult(case, tl, n, L, {}, [], debt)
    result.kpis = kpis(result, grants_total)
    result.partners = partner_flows(result)
    if checks:
        result.checks = integrity_checks(result, grants_total)
    return result


def _safe_divide(numerator: Number, denominator: Array) -> Array:
    """``numerator / denominator`` where the denominator is positive, else 0 (broadcasting both)."""
    shape = np.broadcast_shapes(np.shape(numerator), np.shape(denominator))
    return np.divide(numerator, denominator, out=np.zeros(shape), where=denominator > 0)


def _infer_paths(draws: Mapping[str, Array], *arrays: Array | None) -> int:
    sizes = {len(v) for v in draws.values()} | {a.shape[0] for a in arrays if a is not None}
    if len(sizes) > 1:
        raise ValueError(f"inconsistent numbers of paths: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def size_debt(case: Case, tl: Timeline, L: Mapping[str, Array]) -> DebtSchedule:
    """Size every tranche on one path (the base case) and build its fixed schedule.

    Each tranche draws ``gearing × (initial capex − grants on it)`` in the periods of
    initial capex. Interest accrues on the opening balance (no circularity): capitalised
    during construction, paid in cash in operation. Repayment runs from the period after
    the last drawdown (and after grace) to the end of the tenor:

    - linear: equal principal;
    - annuity: level debt service, ``annuity_payment(r, n, balance)``;
    - sculpted: debt service proportional to the base case's CFADS proxy (EBITDA −
      unlevered tax, clipped at 0), the debt reduced where needed so that the proxy
      covers debt service ``target_dscr`` times (sized on the proxy to avoid a circular
      reference between tax and interest). Like CFADS, the proxy leaves out the resale
      proceeds of retired compute but bears the tax on them.

    The recurrences below loop over periods on one path only.
    """
    C, T = tl.construction_years, tl.n_periods
    need = np.asarray(L["initial_capex_eur"] - L["grants_on_initial_eur"], dtype=float).reshape(-1, T)[0]
    proxy = np.asarray(np.maximum(L["ebitda_eur"] - L["unlevered_tax_eur"], 0.0), dtype=float).reshape(-1, T)[0]
    draw_periods = np.nonzero(need > 0)[0]
    last_draw = int(draw_periods[-1]) if len(draw_periods) else C - 1
    tranches = []
    for d in case.data["debt"]:
        r = float(d["interest_rate"])
        draws = float(d["gearing"]) * np.maximum(need, 0.0)
        p0 = max(C + int(d["grace_years"]), last_draw + 1)
        p1 = C + int(d["tenor_years"]) - 1
        n_rep = p1 - p0 + 1
        if d["repayment"] == "sculpted":
            # balance at p0 is linear in the draws: size on a unit and scale
            unit = _balance_at(draws, r, C, p0)
            pv = float(np.sum(proxy[p0 : p1 + 1] * (1.0 + r) ** -np.arange(1, n_rep + 1)))
            capacity = pv / float(d["target_dscr"])
            if unit > capacity > 0 or (capacity <= 0 < unit):
                draws = draws * (max(capacity, 0.0) / unit)
        balance_p0 = _balance_at(draws, r, C, p0)
        opening = 0.0
        cols = {k: np.zeros(T) for k in ("interest_capitalised", "interest_paid", "principal", "balance")}
        payment = finance.annuity_payment(r, n_rep, balance_p0)
        pv_proxy = float(np.sum(proxy[p0 : p1 + 1] * (1.0 + r) ** -np.arange(1, n_rep + 1)))
        for t in range(T):  # balance recurrence on the base case only
            interest = r * opening
            if t < C:
                cols["interest_capitalised"][t] = interest
            else:
                cols["interest_paid"][t] = interest
            principal = 0.0
            if p0 <= t <= p1:
                if d["repayment"] == "linear":
                    principal = balance_p0 / n_rep
                elif d["repayment"] == "annuity":
                    principal = float(payment) - interest
                else:
                    service = proxy[t] * balance_p0 / pv_proxy if pv_proxy > 0 else balance_p0 / n_rep + interest
                    principal = service - interest
                # never repay more than is owed (rounding of a sculpted or annuity profile
                # must not push the balance below zero); the last instalment clears it
                principal = opening if t == p1 else min(principal, opening)
            closing = opening + (interest if t < C else 0.0) + draws[t] - principal
            cols["principal"][t] = principal
            cols["balance"][t] = closing
            opening = closing
        tranches.append(
            Tranche(
                d["name"], r, draws, cols["interest_capitalised"], cols["interest_paid"], cols["principal"],
                float(d["upfront_fee"]) * draws, cols["balance"], p0, p1, float(d["min_dscr_covenant"]),
                float(d["lockup_dscr"]), float(d["dsra_months"]),
            )
        )
    return DebtSchedule(tuple(tranches), T)


def _balance_at(draws: Array, rate: float, construction_years: int, period: int) -> float:
    """Opening balance of ``period``: draws plus interest capitalised during construction."""
    balance = 0.0
    for t in range(period):
        balance += (rate * balance if t < construction_years else 0.0) + draws[t]
    return balance


# --- metrics ------------------------------------------------------------------------------


def _present_value(flows: Array, factors: Array) -> Array:
    """Σ_t flows[..., t] × factors[t], summed row by row in the same order for any number of
    paths (a BLAS matrix product may order the sum differently for one row than for many),
    so a Monte Carlo path with the base case's inputs equals the base case bit for bit."""
    return np.sum(flows * factors, axis=-1)


def kpis(res: ModelResult, grants_total: list[Array]) -> dict[str, Array]:
    """Per-path KPIs (DESIGN "Outputs"), each of shape (n_paths,)."""
    L, tl, n, data = res.lines, res.timeline, res.n_paths, res.case.data
    T = tl.n_periods

    def full(name: str) -> Array:
        return np.broadcast_to(L[name], (n, T))

    def total(name: str) -> Array:
        return full(name).sum(axis=-1)

    rate = data["project"]["discount_rate"]
    df = tl.discount_factors(rate)
    project_cf = full("project_cash_flow_eur")
    equity_cf = full("equity_cash_flow_eur")
    partners = data["partners"]
    cost_of_equity = sum(pt["share"] * pt["cost_of_equity"] for pt in partners)
    k: dict[str, Array] = {}
    k["total_capex_eur"] = total("initial_capex_eur")
    k["refresh_capex_eur"] = total("refresh_capex_eur")
    k["grants_eur"] = total("grants_eur")
    k["debt_eur"] = total("debt_drawdown_eur")
    k["equity_eur"] = total("equity_contributions_eur") + total("equity_calls_eur")
    k["project_npv_eur"] = _present_value(project_cf, df)
    k["project_irr"] = np.asarray(finance.irr(project_cf), dtype=float).reshape(n)
    k["equity_npv_eur"] = _present_value(equity_cf, tl.discount_factors(cost_of_equity))
    k["equity_irr"] = np.asarray(finance.irr(equity_cf), dtype=float).reshape(n)
    dscr = full("dscr")
    has_service = np.isfinite(dscr)
    if has_service.any():
        k["min_dscr"] = np.nanmin(np.where(has_service, dscr, np.nan), axis=-1)
        k["avg_dscr"] = np.nanmean(np.where(has_service, dscr, np.nan), axis=-1)
    else:
        k["min_dscr"] = np.full(n, np.nan)
        k["avg_dscr"] = np.full(n, np.nan)
    k["llcr"] = _llcr(res)
    k["payback_year"] = np.asarray(finance.payback_year(project_cf, tl.years))
    k["equity_payback_year"] = np.asarray(finance.payback_year(equity_cf, tl.years))
    opex_pv = _present_value(full("opex_eur"), df)
    net_capex_pv = _present_value(full("capex_eur") - full("grants_eur"), df)
    hours_pv = _present_value(full("gpu_hours_sold"), df)
    k["lcoc_eur_per_gpu_hour"] = np.divide(opex_pv + net_capex_pv, hours_pv, out=np.full(n, np.nan), where=hours_pv > 0)
    k["peak_equity_exposure_eur"] = np.asarray(finance.peak_exposure(equity_cf))
    covenant = min((t.min_dscr_covenant for t in res.debt.tranches), default=np.nan)
    breach = np.where(has_service, dscr < covenant, False).any(axis=-1) if res.debt.tranches else np.zeros(n, bool)
    k["dscr_covenant_breach"] = breach.astype(float)
    k["lockup_years"] = np.sum(full("lockup_retained_eur") > 0.0, axis=-1).astype(float)
    return k


def _llcr(res: ModelResult) -> Array:
    """Loan life cover ratio at the first repayment: PV of CFADS over the loan life ÷ debt then.

    Discounted at the balance-weighted interest rate of the tranches; NaN without debt.
    """
    n, T = res.n_paths, res.timeline.n_periods
    tranches = [t for t in res.debt.tranches if t.balance.max() > 0]
    if not tranches:
        return np.full(n, np.nan)
    p0 = min(t.first_repayment_period for t in tranches)
    p1 = max(t.last_repayment_period for t in tranches)
    opening = [t.balance[p0 - 1] for t in tranches]
    debt = sum(opening)
    rate = sum(b * t.interest_rate for b, t in zip(opening, tranches, strict=True)) / debt
    cfads = np.broadcast_to(res.lines["cfads_eur"], (n, T))[:, p0 : p1 + 1]
    pv = _present_value(cfads, (1.0 + rate) ** -np.arange(1, p1 - p0 + 2))
    with np.errstate(over="ignore"):  # a vanishing debt gives an infinite cover
        return np.asarray(pv / debt)


def partner_flows(res: ModelResult) -> list[dict[str, Any]]:
    """Each partner's flows and returns: pro rata to its share of every equity flow."""
    L, n, T, tl = res.lines, res.n_paths, res.timeline.n_periods, res.timeline
    equity_cf = np.broadcast_to(L["equity_cash_flow_eur"], (n, T))
    paid_in = np.broadcast_to(L["equity_contributions_eur"] + L["equity_calls_eur"], (n, T))
    paid_out = np.broadcast_to(L["distributions_eur"], (n, T))
    irr = res.kpis["equity_irr"]  # identical for every pro-rata partner
    payback = res.kpis["equity_payback_year"]
    # Pro rata: a partner's multiple equals the equity's, its exposure is its share of it.
    equity_moic = finance.moic(equity_cf)
    equity_exposure = finance.peak_exposure(equity_cf)
    out = []
    for pt in res.case.data["partners"]:
        s = pt["share"]
        flows = s * equity_cf
        out.append({
            "name": pt["name"],
            "share": s,
            "cost_of_equity": pt["cost_of_equity"],
            "cash_flow_eur": flows,
            "contributions_eur": s * paid_in.sum(axis=-1),
            "distributions_eur": s * paid_out.sum(axis=-1),
            "irr": irr,
            "npv_eur": _present_value(flows, tl.discount_factors(pt["cost_of_equity"])),
            "moic": equity_moic,
            "peak_exposure_eur": s * equity_exposure,
            "payback_year": payback,
        })
    return out


def integrity_checks(res: ModelResult, grants_total: list[Array]) -> list[dict[str, Any]]:
    """Integrity checks: name, passed, worst deviation [EUR] over paths and years."""
    L, n, T = res.lines, res.n_paths, res.timeline.n_periods

    def full(name: str) -> Array:
        return np.broadcast_to(L[name], (n, T))

    scale = max(1.0, float(np.max(np.abs(full("initial_capex_eur").sum(axis=-1)))))
    tol = 1e-9 * scale
    # cash released from the lock-up account is a source, cash retained in it a use; the
    # DSRA movement is a use (a release a negative use)
    sources = full("grants_eur") + full("debt_drawdown_eur") + full("equity_contributions_eur") + full("equity_calls_eur") + full("cfads_eur") + full("terminal_value_eur") + full("compute_resale_eur") + full("lockup_released_eur")
    uses = full("capex_eur") + full("debt_fees_eur") + full("debt_service_eur") + full("distributions_eur") + full("lockup_retained_eur") + full("dsra_funding_eur")
    # the project company's cash: the lock-up account (retained less released) and the DSRA
    cash = np.cumsum(full("lockup_retained_eur") - full("lockup_released_eur") + full("dsra_funding_eur"), axis=-1)
    # the DSRA rebuilt from its movements equals its target, is never negative and is empty at the end
    dsra = np.cumsum(full("dsra_funding_eur"), axis=-1)
    dsra_dev = max(
        float(np.max(np.abs(dsra - full("dsra_target_eur")))), float(max(0.0, -dsra.min())), float(np.max(np.abs(dsra[:, -1]))),
    )
    partner_sum = sum(pt["cash_flow_eur"] for pt in res.partners)
    balance = full("debt_balance_eur")
    # each tranche is checked from its own maturity on
    unpaid = max([0.0] + [float(np.max(np.abs(t.balance[t.last_repayment_period:]))) for t in res.debt.tranches])
    checks = [
        ("sources_equal_uses", float(np.max(np.abs(sources - uses)))),
        ("debt_balance_non_negative", float(max(0.0, -balance.min()))),
        ("debt_repaid_by_maturity", unpaid),
        ("partner_flows_sum_to_equity", float(np.max(np.abs(partner_sum - full("equity_cash_flow_eur"))))),
        ("cash_never_negative", float(max(0.0, -cash.min()))),
        ("dsra_at_target", dsra_dev),
        ("grants_within_caps", float(max([0.0] + [
            float(np.max(g - res.case.data["grants"][i]["cap_eur"])) for i, g in enumerate(grants_total)
        ]))),
    ]
    return [{"name": name, "passed": bool(dev <= tol), "worst_deviation": dev} for name, dev in checks]
