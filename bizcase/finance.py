"""Discounting and investment metrics on cash-flow arrays.

This module owns the time value of money: discount factors, present value,
net present value, internal rate of return, payback, peak funding exposure,
multiple on invested capital and level annuity payments. Every function is a
pure, vectorised function of numpy arrays; none of them reads assumptions or
prints anything.

Conventions
-----------
Signs
    Cash in is positive, cash out is negative [EUR]. An investment therefore
    starts with negative flows (capex, equity calls) followed by positive
    ones (distributions).
Shapes
    Cash flows are arrays of shape ``(..., n_periods)``: any leading axes
    (typically ``n_paths``) first, time last. Results drop the time axis, so
    ``(n_paths, n_periods)`` flows give ``(n_paths,)`` metrics and a single
    1-D path gives a Python ``float``.
Rates and periods
    Rates are decimal fractions per period [fraction/period]; with yearly
    periods that is the usual annual rate. Period ``t`` (``t = 0, 1, ...``)
    runs from ``t`` to ``t + 1``.
Timing
    Flows fall at the end of their period unless ``timing="mid"`` is asked
    for, which places them half-way through the period.
No answer
    A metric without an answer for a path (an IRR when the flows never change
    sign, a payback that never happens) is NaN for that path, never 0.

Relation to Excel and numpy-financial
-------------------------------------
There are two common definitions of "NPV" and this module offers both:

* :func:`present_value` values the flows at the *start* of period 0, each flow
  discounted by ``(1 + rate) ** -(t + 1)``. With ``timing="end"`` this is
  exactly Excel's and LibreOffice's ``=NPV(rate, B2:Z2)``, which discounts its
  first value by one full period.
* :func:`npv` follows numpy-financial: the first flow is taken as happening
  *now* and is not discounted, ``flows[t] / (1 + rate) ** t``. It equals
  Excel's ``=B2 + NPV(rate, C2:Z2)``. The two differ by one period of
  discounting: ``npv(r, f) == present_value(r, f) * (1 + r)``.

:func:`irr` is the rate at which both are zero, so it does not depend on that
choice; it agrees with Excel's ``=IRR(B2:Z2)`` and ``numpy_financial.irr``
whenever the flows change sign once. For flows that change sign several times
it is the root nearest the guess, 0.1 by default as in spreadsheets (see the
Notes of :func:`irr`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "annuity_payment",
    "discount_factors",
    "irr",
    "moic",
    "npv",
    "payback_period",
    "payback_year",
    "peak_exposure",
    "present_value",
]

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]

#: Rate from which Excel's and LibreOffice's IRR start by default [fraction/period].
SPREADSHEET_IRR_GUESS = 0.1

# Rates at which the NPV is valued to bracket its roots [fraction/period]:
# every 1 % from -30 % to 60 %, where returns usually lie, every 5 % out to
# -95 % and 100 %, then -99 % and 16 steps of x1.33 up to 10,000 %.
# Rounded so that 0.1, the spreadsheets' default guess, is a grid rate.
_BRACKET_GRID = np.round(
    np.concatenate(
        [
            [-0.99],
            np.linspace(-0.95, -0.35, 13),
            np.linspace(-0.30, 0.60, 91),
            np.linspace(0.65, 1.0, 8),
            np.geomspace(1.0, 100.0, 17)[1:],
        ]
    ),
    12,
)

# Paths valued on _BRACKET_GRID at a time (bounds the grid values' memory).
_BRACKET_SLICE = 8192

# Largest number of safeguarded Newton steps in a bracket; bisection alone
# narrows any grid interval to 1e-12 in fewer.
_BRACKET_MAXITER = 100

# Rates at which every path is valued in one matrix product to find a
# starting point for Newton's method [fraction/period]; evenly spaced.
_GUESS_RATES = np.linspace(-0.1, 0.5, 13)

# Largest Newton step [fraction of 1 + r] from which quadratic convergence
# is trusted to predict the next step (see _newton_irr).
_PREDICTION_REGIME = 1e-4

# Paths per block when copying flows into period-major order (see _period_major).
_COPY_BLOCK = 2048


def _as_result(values: FloatArray) -> FloatArray | float:
    """Return a 0-d array as a Python float and anything else unchanged."""
    if values.ndim == 0:
        return float(values)
    return values


def _check_timing(timing: str) -> float:
    """Return when within its period a flow falls [periods]: 1 at the end, 0.5 mid-way."""
    offsets = {"end": 1.0, "mid": 0.5}
    if timing not in offsets:
        raise ValueError(f"timing must be 'end' or 'mid', not {timing!r}")
    return offsets[timing]


def discount_factors(rate: ArrayLike, n_periods: int, timing: str = "end") -> FloatArray:
    """Discount factors of periods ``0 .. n_periods - 1`` back to the start of period 0.

    Parameters
    ----------
    rate : float or array_like of shape (...,)
        Discount rate per period [fraction/period].
    n_periods : int
        Number of periods T [-].
    timing : {"end", "mid"}, default "end"
        When flows fall within their period: at its end, or half-way.

    Returns
    -------
    numpy.ndarray of shape rate.shape + (n_periods,)
        Discount factor of each period [fraction].

    Raises
    ------
    ValueError
        If `timing` is neither ``"end"`` nor ``"mid"``.

    Notes
    -----
    .. math:: d_t = (1 + r)^{-(t + 1)} \\quad \\text{(end)}, \\qquad
              d_t = (1 + r)^{-(t + 1/2)} \\quad \\text{(mid)}

    for :math:`t = 0, \\dots, T - 1`.

    Examples
    --------
    >>> discount_factors(0.10, 3).round(6)
    array([0.909091, 0.826446, 0.751315])
    >>> discount_factors([0.0, 0.21], 2, timing="mid").round(6)
    array([[1.      , 1.      ],
           [0.909091, 0.751315]])
    """
    offset = _check_timing(timing)
    rates = np.asarray(rate, dtype=np.float64)
    exponents = np.arange(n_periods, dtype=np.float64) + offset
    factors: FloatArray = (1.0 + rates[..., np.newaxis]) ** -exponents
    return factors


def present_value(rate: ArrayLike, flows: ArrayLike, timing: str = "end") -> FloatArray | float:
    """Present value of cash flows at the start of period 0 (Excel's ``NPV``).

    Parameters
    ----------
    rate : float or array_like of shape (...,)
        Discount rate per period [fraction/period]; an array gives one rate
        per path.
    flows : array_like of shape (..., n_periods)
        Cash flows, time last [EUR].
    timing : {"end", "mid"}, default "end"
        When flows fall within their period: at its end, or half-way.

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Value at the start of period 0 (1 January of the first year) [EUR].

    Raises
    ------
    ValueError
        If `timing` is neither ``"end"`` nor ``"mid"``.

    Notes
    -----
    .. math:: PV = \\sum_{t=0}^{T-1} f_t \\, (1 + r)^{-(t + 1)}

    for end-of-period flows (``t + 1/2`` for mid-period flows). With
    ``timing="end"`` this is exactly Excel's ``=NPV(rate, row)``, which
    discounts its first value by a full period; :func:`npv` does not.

    Examples
    --------
    >>> round(present_value(0.10, [110.0, 121.0]), 6)
    200.0
    >>> round(present_value(0.10, [110.0], timing="mid"), 6)
    104.880885
    """
    values = np.asarray(flows, dtype=np.float64)
    factors = discount_factors(rate, values.shape[-1], timing)
    return _as_result(np.sum(values * factors, axis=-1))


def npv(rate: ArrayLike, flows: ArrayLike) -> FloatArray | float:
    """Net present value with the first flow undiscounted (numpy-financial convention).

    Parameters
    ----------
    rate : float or array_like of shape (...,)
        Discount rate per period [fraction/period]; an array gives one rate
        per path.
    flows : array_like of shape (..., n_periods)
        Cash flows, time last; ``flows[..., 0]`` is taken as happening now
        [EUR].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Value at the time of the first flow [EUR].

    Notes
    -----
    .. math:: NPV = \\sum_{t=0}^{T-1} \\frac{f_t}{(1 + r)^t}
              = (1 + r) \\cdot PV_{\\text{end}}

    This is ``numpy_financial.npv`` applied path by path and Excel's
    ``=B2 + NPV(rate, C2:Z2)``. It is *not* Excel's ``=NPV(rate, B2:Z2)``;
    for that use :func:`present_value`.

    Examples
    --------
    >>> round(npv(0.05, [-100.0, 110.0]), 6)
    4.761905
    >>> npv([0.0, 0.10], [[-100.0, 110.0], [-100.0, 121.0]]).round(6)
    array([10., 10.])
    """
    values = np.asarray(flows, dtype=np.float64)
    rates = np.asarray(rate, dtype=np.float64)
    periods = np.arange(values.shape[-1], dtype=np.float64)
    factors = (1.0 + rates[..., np.newaxis]) ** -periods
    return _as_result(np.sum(values * factors, axis=-1))


def annuity_payment(
    rate: ArrayLike, n_periods: ArrayLike, principal: ArrayLike
) -> FloatArray | float:
    """Level payment that repays a loan over `n_periods` with interest.

    Parameters
    ----------
    rate : float or array_like
        Interest rate per period [fraction/period].
    n_periods : int or array_like
        Number of payments, one at the end of each period [-].
    principal : float or array_like
        Amount borrowed at the start of period 0 [EUR].

    Returns
    -------
    float or numpy.ndarray
        Payment per period, positive for a positive principal [EUR/period].
        The arguments are broadcast against each other.

    Notes
    -----
    .. math:: A = P \\frac{r}{1 - (1 + r)^{-n}}, \\qquad A = P / n
              \\text{ when } r = 0

    This equals ``-numpy_financial.pmt(rate, n_periods, principal)`` (the
    sign is flipped because the payment is what the borrower owes).

    Examples
    --------
    >>> round(annuity_payment(0.10, 2, 100.0), 6)
    57.619048
    >>> annuity_payment([0.0, 0.05], 4, 100.0).round(4)
    array([25.    , 28.2012])
    """
    rates = np.asarray(rate, dtype=np.float64)
    periods = np.asarray(n_periods, dtype=np.float64)
    amount = np.asarray(principal, dtype=np.float64)
    interest_bearing = rates != 0.0
    safe_rates = np.where(interest_bearing, rates, 1.0)
    # 1 - (1 + r)^-n written to stay accurate for small rates.
    repaid_share = -np.expm1(-periods * np.log1p(safe_rates))
    with np.errstate(divide="ignore", invalid="ignore"):
        payment = np.where(interest_bearing, amount * safe_rates / repaid_share, amount / periods)
    return _as_result(np.asarray(payment, dtype=np.float64))


def peak_exposure(flows: ArrayLike) -> FloatArray | float:
    """Largest cumulative funding need of a cash-flow profile.

    Parameters
    ----------
    flows : array_like of shape (..., n_periods)
        Cash flows, time last [EUR].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Deepest point of the cumulative flow, as a positive amount; 0 when the
        cumulative flow never goes below zero [EUR].

    Notes
    -----
    .. math:: E = -\\min\\left(0, \\min_t \\sum_{s \\le t} f_s\\right)

    Examples
    --------
    >>> peak_exposure([-60.0, -40.0, 30.0, 90.0])
    100.0
    >>> peak_exposure([[10.0, -5.0], [-5.0, 10.0]])
    array([0., 5.])
    """
    values = np.asarray(flows, dtype=np.float64)
    cumulative = np.cumsum(values, axis=-1)
    # "+ 0.0" turns a -0.0 into 0.0.
    exposure = np.maximum(-np.min(cumulative, axis=-1), 0.0) + 0.0
    return _as_result(exposure)


def moic(flows: ArrayLike) -> FloatArray | float:
    """Multiple on invested capital: cash returned per unit of cash put in.

    Parameters
    ----------
    flows : array_like of shape (..., n_periods)
        Cash flows, time last [EUR].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Sum of positive flows over minus the sum of negative flows [-]; NaN
        where there is no negative flow.

    Notes
    -----
    .. math:: MOIC = \\frac{\\sum_t \\max(f_t, 0)}{-\\sum_t \\min(f_t, 0)}

    Flows are not discounted and not netted period by period before the split.

    Examples
    --------
    >>> moic([-100.0, 30.0, 50.0, 70.0])
    1.5
    >>> moic([[-50.0, -50.0, 250.0], [10.0, 20.0, 30.0]])
    array([2.5, nan])
    """
    values = np.asarray(flows, dtype=np.float64)
    returned = np.sum(np.maximum(values, 0.0), axis=-1)
    invested = -np.sum(np.minimum(values, 0.0), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        multiple = np.where(invested > 0.0, returned / invested, np.nan)
    return _as_result(np.asarray(multiple, dtype=np.float64))


def payback_period(flows: ArrayLike) -> FloatArray | float:
    """Period from whose end the cumulative cash flow stays at or above zero.

    Parameters
    ----------
    flows : array_like of shape (..., n_periods)
        Cash flows, time last [EUR].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Index ``t`` of the first period at whose end the cumulative flow is
        >= 0 and stays >= 0 at the end of every later period
        [periods, counted from 0]. NaN where the cumulative flow ends below
        zero, or is never negative (nothing to pay back).

    Notes
    -----
    .. math:: t^* = \\min\\{t : C_s \\ge 0 \\text{ for all } s \\ge t\\},
              \\qquad C_t = \\sum_{s \\le t} f_s,

    defined when some :math:`C_t < 0` and :math:`C_{T-1} \\ge 0`. A
    recovery followed by a new dip below zero (a later investment, such as a
    hardware refresh, funded before it earns back) is not a payback: the
    payback is the recovery after the last dip. No interpolation within the
    period is made: a project whose cumulative flow turns positive for good
    during period 3 pays back "in period 3".

    Examples
    --------
    >>> payback_period([-100.0, 40.0, 40.0, 40.0])
    3.0
    >>> payback_period([-100.0, 150.0, -100.0, 100.0])  # cumulative -100, 50, -50, 50
    3.0
    >>> payback_period([[-100.0, 100.0, 5.0], [-100.0, 150.0, -60.0]])
    array([ 1., nan])
    """
    values = np.asarray(flows, dtype=np.float64)
    cumulative = np.cumsum(values, axis=-1)
    # stays[..., t]: C_s >= 0 for every s >= t (an "all" accumulated from the end).
    stays = np.flip(
        np.logical_and.accumulate(np.flip(cumulative >= 0.0, axis=-1), axis=-1), axis=-1
    )
    first = np.argmax(stays, axis=-1)
    # first == 0 with stays[..., 0]: never negative; no True at all: ends below zero.
    paid_back = np.any(stays, axis=-1) & (first > 0)
    period = np.where(paid_back, first.astype(np.float64), np.nan)
    return _as_result(np.asarray(period, dtype=np.float64))


def payback_year(flows: ArrayLike, years: ArrayLike) -> FloatArray | float:
    """Calendar year from whose end the cumulative cash flow stays at or above zero.

    Parameters
    ----------
    flows : array_like of shape (..., n_periods)
        Cash flows, time last [EUR].
    years : array_like of shape (n_periods,)
        Calendar year of each period [year].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        ``years[payback_period(flows)]``: the year at whose end the cumulative
        flow is >= 0 and stays so to the end of the horizon, after having
        been negative [year]; NaN where that never happens.

    Notes
    -----
    See :func:`payback_period` for the rule; no interpolation is made.

    Examples
    --------
    >>> payback_year([-100.0, 60.0, 60.0], [2026, 2027, 2028])
    2028.0
    >>> payback_year([-100.0, 120.0, -50.0, 40.0], [2026, 2027, 2028, 2029])
    2029.0
    """
    period = np.asarray(payback_period(flows), dtype=np.float64)
    calendar = np.asarray(years, dtype=np.float64)
    reached = np.isfinite(period)
    index = np.where(reached, period, 0.0).astype(np.intp)
    year = np.where(reached, calendar[index], np.nan)
    return _as_result(np.asarray(year, dtype=np.float64))


# --------------------------------------------------------------------------
# Internal rate of return
# --------------------------------------------------------------------------


def _period_major(flows_2d: FloatArray) -> FloatArray:
    """Copy ``(n_paths, T)`` flows into a C-ordered ``(T, n_paths)`` array.

    Newton's method needs one period of all paths at a time, which is a
    contiguous row in this layout. Copying block by block keeps the transpose
    inside the CPU cache (two to three times faster than a plain
    ``.T.copy()`` for a million paths); the loop only moves memory, it computes nothing.
    """
    transposed = flows_2d.T
    if transposed.flags.c_contiguous:
        return transposed
    n_paths = flows_2d.shape[0]
    by_period = np.empty(transposed.shape, dtype=np.float64)
    for start in range(0, n_paths, _COPY_BLOCK):
        stop = start + _COPY_BLOCK
        by_period[:, start:stop] = transposed[:, start:stop]
    return by_period


def _polynomial_and_slope(
    by_period: FloatArray, discount: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Evaluate f(v) = sum_t c_t v^t and f'(v) for every path (Horner's scheme).

    ``by_period`` is ``(T, m)``, ``discount`` is ``(m,)``. The loop runs over
    periods because Horner's scheme is a recurrence; each step is vectorised
    over all paths.
    """
    value = by_period[-1].copy()
    slope = np.zeros_like(value)
    for period in range(by_period.shape[0] - 2, -1, -1):
        slope *= discount
        slope += value
        value *= discount
        value += by_period[period]
    return value, slope


def _polynomial(by_period: FloatArray, discount: FloatArray) -> FloatArray:
    """Evaluate f(v) = sum_t c_t v^t for every column (Horner's scheme).

    ``discount`` broadcasts against a row of ``by_period``.
    """
    value = np.broadcast_to(by_period[-1], np.broadcast(by_period[-1], discount).shape)
    value = value.copy()
    for period in range(by_period.shape[0] - 2, -1, -1):
        value *= discount
        value += by_period[period]
    return value


def _sign_change_classes(
    by_period: FloatArray,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Flag paths whose flows change sign at least once, and more than once.

    Zeros are skipped when counting changes of sign, as in Descartes' rule of
    signs: exactly one change means exactly one root ``v > 0``. The loop runs
    over periods (a running "seen a positive / negative flow" state), each
    step vectorised over all paths.
    """
    n_paths = by_period.shape[1]
    seen_positive = np.zeros(n_paths, dtype=bool)
    seen_negative = np.zeros(n_paths, dtype=bool)
    negative_after_positive = np.zeros(n_paths, dtype=bool)
    positive_after_negative = np.zeros(n_paths, dtype=bool)
    for flows_in_period in by_period:
        is_positive = flows_in_period > 0.0
        is_negative = flows_in_period < 0.0
        negative_after_positive |= seen_positive & is_negative
        positive_after_negative |= seen_negative & is_positive
        seen_positive |= is_positive
        seen_negative |= is_negative
    has_change = seen_positive & seen_negative
    several = negative_after_positive & positive_after_negative
    return has_change, several


def _interpolated_guess(by_period: FloatArray) -> FloatArray:
    """Starting rates from the NPV of every path on a fixed grid of rates.

    One matrix product values all paths at the rates ``_GUESS_RATES``. Where
    the value changes sign between two grid rates, the rate at which it is
    zero is interpolated from the four grid values around the change
    (inverse cubic interpolation); where it does not change sign on the
    grid, the same formula extrapolates from the nearest end. The flows are
    valued at period ``(T - 1) / 4`` rather than at period 0: that has the
    same roots but is much closer to linear in the rate, so the
    interpolation error is about 1e-4 for project-like flows.

    Returns the rates [fraction/period].
    """
    n_periods, n_paths = by_period.shape
    n_rates = _GUESS_RATES.size
    periods = np.arange(n_periods, dtype=np.float64)
    valuation_period = 0.25 * (n_periods - 1)
    factors = (1.0 + _GUESS_RATES[:, np.newaxis]) ** (valuation_period - periods)
    values = factors @ by_period  # (n_rates, n_paths)
    # With one root the signs along the grid are (+...+-...-) or the mirror:
    # count the grid rates before the change.
    positive = np.count_nonzero(values > 0.0, axis=0)
    before_change = np.where(values[0] > 0.0, positive, n_rates - positive)
    first = np.clip(before_change - 2, 0, n_rates - 4)
    flat_index = first * n_paths + np.arange(n_paths)
    flat_values = values.reshape(-1)
    # y_j: value at grid rate first + j; row j of the slice starting j rows on.
    y0, y1, y2, y3 = (np.take(flat_values[j * n_paths :], flat_index) for j in range(4))
    # Inverse Lagrange interpolation: the grid position p (in grid steps from
    # rate `first`) at which the cubic through (y_j, j) reaches y = 0,
    # p = sum_j j * prod_{k != j} y_k / (y_k - y_j).
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d01, d02, d03 = y1 - y0, y2 - y0, y3 - y0
        d12, d13, d23 = y2 - y1, y3 - y1, y3 - y2
        y0y1 = y0 * y1
        position = 2.0 * (y0y1 * y3) / (d02 * d12 * d23)
        position -= (y0 * y2 * y3) / (d01 * d12 * d13)
        position -= 3.0 * (y0y1 * y2) / (d03 * d13 * d23)
        step = _GUESS_RATES[1] - _GUESS_RATES[0]
        guess = _GUESS_RATES[first] + step * position
    guess = np.where(np.isfinite(guess), guess, SPREADSHEET_IRR_GUESS)
    clipped: FloatArray = np.clip(guess, -0.99, 100.0)
    return clipped


def _newton_irr(by_period: FloatArray, start: FloatArray, tol: float, maxiter: int) -> FloatArray:
    """Newton's method on the discount factor ``v`` for every column of ``by_period`` at once.

    Starts from the rates `start` and returns the rates, NaN where the
    iteration failed (left ``v > 0``, became non-finite, or did not converge
    within `maxiter` iterations). A path's result is the iterate at which it
    first converged, whatever the other paths do.

    Finished paths are dropped from the working set once at least 40 % of
    it has finished, so the last few slow paths do not cost full passes.
    """
    rates = np.full(start.size, np.nan)
    index = np.arange(start.size)
    data = by_period
    with np.errstate(divide="ignore"):
        discount = 1.0 / (1.0 + start)
    previous_step = np.full(start.size, np.nan)
    finished_discount = np.full(start.size, np.nan)
    finished = np.zeros(start.size, dtype=bool)
    failed = np.zeros(start.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(maxiter):
            value, slope = _polynomial_and_slope(data, discount)
            value /= slope  # Newton step on v
            new_discount = discount - value
            # Step measured on ln(1 + r) = -ln(v): |v - v_new| / v_new, i.e. the
            # step in r relative to 1 + r. (A plain step in r would look tiny
            # while v is huge and r is pinned near -1, far from the root.)
            step = np.abs(value)
            step /= new_discount
            valid = new_discount > 0.0
            # Converged: a step below tol, or a small step in the quadratic
            # regime whose predicted successor step**3 / previous**2 is below tol.
            predicted = step * step * step <= tol * (previous_step * previous_step)
            converged = (step <= tol) | (predicted & (step <= _PREDICTION_REGIME))
            converged &= valid & ~finished
            np.copyto(finished_discount, new_discount, where=converged)
            finished |= converged
            failed |= ~valid & ~finished
            discount, previous_step = new_discount, step
            outstanding = ~(finished | failed)
            n_outstanding = int(np.count_nonzero(outstanding))
            if n_outstanding > 0.6 * index.size:
                continue
            done = index[finished]
            rates[done] = 1.0 / finished_discount[finished] - 1.0
            if n_outstanding == 0:
                break
            keep = np.flatnonzero(outstanding)
            index, data, discount = index[keep], data[:, keep], discount[keep]
            previous_step, finished_discount = previous_step[keep], finished_discount[keep]
            finished = np.zeros(keep.size, dtype=bool)
            failed = np.zeros(keep.size, dtype=bool)
        else:
            done = index[finished]
            rates[done] = 1.0 / finished_discount[finished] - 1.0
    return rates


def _root_in_intervals(data: FloatArray, intervals: npt.NDArray[np.intp], tol: float) -> FloatArray:
    """The rate at which the NPV is zero in a given interval of ``_BRACKET_GRID``, per column.

    ``data`` is ``(T, m)`` flows, one path per column; column ``j`` has a
    sign change of its NPV between rates ``_BRACKET_GRID[intervals[j]]`` and
    the next grid rate. Safeguarded Newton's method on the discount factor
    ``v`` inside the bracket (Numerical Recipes' ``rtsafe``): a Newton step
    that would leave the bracket, or that does not halve the step before
    last, is replaced by bisection, so every column converges. A column's
    result is the iterate at which it first converged, whatever the other
    columns do. The NPV at the bracket's ends is recomputed by Horner's
    scheme rather than taken from the grid's matrix product, whose rounding
    can depend on the number of columns.
    """
    n_columns = intervals.size
    rates = np.full(n_columns, np.nan)
    low_rate = _BRACKET_GRID[intervals]
    high_rate = _BRACKET_GRID[intervals + 1]
    left = 1.0 / (1.0 + low_rate)  # v at the low rate: the larger v
    right = 1.0 / (1.0 + high_rate)
    f_left, f_right = _polynomial(data, np.stack([left, right]))
    at_left = f_left == 0.0
    at_right = (f_right == 0.0) & ~at_left
    # Where a grid value was within rounding of zero, Horner's value may
    # disagree on its sign: the root is then at that end, within rounding.
    no_change = ~(f_left * f_right < 0.0) & ~at_left & ~at_right
    at_left |= no_change & (np.abs(f_left) <= np.abs(f_right))
    at_right |= no_change & ~at_left
    rates[at_left] = low_rate[at_left]
    rates[at_right] = high_rate[at_right]
    index = np.flatnonzero(~(at_left | at_right))
    if index.size == 0:
        return rates
    data = data[:, index] if index.size < n_columns else data
    left, right, f_left, f_right = left[index], right[index], f_left[index], f_right[index]
    left_negative = f_left < 0.0
    v_negative = np.where(left_negative, left, right)  # bracket end where f(v) < 0
    v_positive = np.where(left_negative, right, left)  # and where f(v) > 0
    discount = left - f_left * (right - left) / (f_right - f_left)  # secant start
    step_before_last = np.abs(left - right)
    last_step = step_before_last.copy()
    result = np.full(index.size, np.nan)
    finished = np.zeros(index.size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value, slope = _polynomial_and_slope(data, discount)
        for _ in range(_BRACKET_MAXITER):
            np.copyto(v_negative, discount, where=value < 0.0)
            np.copyto(v_positive, discount, where=value > 0.0)
            newton_step = value / slope
            newton = discount - newton_step
            inside = (newton - v_negative) * (newton - v_positive) <= 0.0  # False for NaN
            fast = np.abs(2.0 * value) <= np.abs(step_before_last * slope)
            # A Newton step below tol is taken even if rounding puts it just outside.
            use_newton = (inside & fast) | (np.abs(newton_step) <= tol * discount)
            middle = 0.5 * (v_negative + v_positive)
            step_before_last = last_step
            last_step = np.where(
                use_newton, np.abs(newton_step), 0.5 * np.abs(v_positive - v_negative)
            )
            exact = value == 0.0
            new_discount = np.where(exact, discount, np.where(use_newton, newton, middle))
            converged = ((last_step <= tol * new_discount) | exact) & ~finished
            np.copyto(result, new_discount, where=converged)
            finished |= converged
            discount = new_discount
            n_open = index.size - int(np.count_nonzero(finished))
            if n_open <= 0.6 * index.size:
                rates[index[finished]] = 1.0 / result[finished] - 1.0
                if n_open == 0:
                    return rates
                keep = np.flatnonzero(~finished)
                index, data, discount = index[keep], data[:, keep], discount[keep]
                v_negative, v_positive = v_negative[keep], v_positive[keep]
                step_before_last, last_step = step_before_last[keep], last_step[keep]
                result = result[keep]
                finished = np.zeros(keep.size, dtype=bool)
            value, slope = _polynomial_and_slope(data, discount)
    result = np.where(finished, result, discount)  # still open after _BRACKET_MAXITER steps
    rates[index] = 1.0 / result - 1.0
    return rates


def _nearest_root(by_period: FloatArray, guess: FloatArray, tol: float) -> FloatArray:
    """The root of each column's NPV nearest its guess, among the sign changes on the grid.

    ``by_period`` is ``(T, m)`` flows with finite values, ``guess`` is
    ``(m,)`` rates. See the Notes of :func:`irr` for the rule. The loop runs
    over slices of paths only to bound the memory of the grid values; each
    slice is vectorised.
    """
    n_periods, n_paths = by_period.shape
    rates = np.full(n_paths, np.nan)
    exponents = np.arange(n_periods, dtype=np.float64)
    with np.errstate(over="ignore"):
        factors = (1.0 + _BRACKET_GRID[:, np.newaxis]) ** -exponents  # (G, T)
    lows = _BRACKET_GRID[:-1, np.newaxis]
    highs = _BRACKET_GRID[1:, np.newaxis]
    n_intervals = lows.shape[0]  # < 256, so positions fit in uint8
    rank_up = np.arange(1, n_intervals + 1, dtype=np.uint8)[:, np.newaxis]
    rank_down = rank_up[::-1].copy()
    for start in range(0, n_paths, _BRACKET_SLICE):
        stop = min(start + _BRACKET_SLICE, n_paths)
        # Scaled so that every path's largest flow is 1: the roots are the same.
        flows = by_period[:, start:stop]
        data = flows / np.max(np.abs(flows), axis=0)
        near = guess[start:stop]
        with np.errstate(invalid="ignore", over="ignore"):
            values = factors @ data  # NPV at every grid rate, (G, m)
        positive = values > 0.0
        zero = values == 0.0
        # A sign change between grid rates i and i + 1, or a zero at rate i.
        crossing = (positive[1:] != positive[:-1]) & ~zero[1:]
        crossing |= zero[:-1]
        # Last interval starting below the guess and first ending above it,
        # as the largest of (position + 1) and of (n_intervals - position)
        # over the flagged intervals; 0 where none is flagged.
        below = crossing & (lows < near)
        above = crossing & (highs > near)
        last_below = np.max(below.view(np.uint8) * rank_up, axis=0)
        first_above = np.max(above.view(np.uint8) * rank_down, axis=0)
        has_below = last_below > 0
        has_above = first_above > 0
        below_index = np.maximum(last_below.astype(np.intp) - 1, 0)
        above_index = np.minimum(n_intervals - first_above.astype(np.intp), n_intervals - 1)
        # With an interval on each side of the guess, the root below lies in
        # [low_b, high_b] and the root above in [low_a, high_a]; one of them
        # is nearer for sure unless those distance ranges overlap.
        apart = has_below & has_above & (below_index != above_index)
        distance_below_at_most = near - _BRACKET_GRID[below_index]
        distance_below_at_least = near - _BRACKET_GRID[below_index + 1]
        distance_above_at_least = _BRACKET_GRID[above_index] - near
        distance_above_at_most = _BRACKET_GRID[above_index + 1] - near
        above_nearer = apart & (distance_above_at_most < distance_below_at_least)
        below_nearer = apart & (distance_below_at_most < distance_above_at_least)
        undecided = apart & ~above_nearer & ~below_nearer
        take_above = has_above & (~has_below | above_nearer)
        first = np.where(take_above, above_index, below_index)
        found = np.flatnonzero(has_below | has_above)
        second = np.flatnonzero(undecided)
        columns = np.concatenate([found, second])
        intervals = np.concatenate([first[found], above_index[second]])
        selected = data if columns.size == data.shape[1] and second.size == 0 else data[:, columns]
        roots = _root_in_intervals(selected, intervals, tol)
        slice_rates = rates[start:stop]
        slice_rates[found] = roots[: found.size]
        # Both sides refined: the root nearer the guess, the lower one on a tie.
        root_below = slice_rates[second]
        root_above = roots[found.size :]
        nearer_above = np.abs(root_above - near[second]) < np.abs(root_below - near[second])
        slice_rates[second] = np.where(nearer_above, root_above, root_below)
    return rates


def irr(
    flows: ArrayLike,
    guess: ArrayLike | None = None,
    *,
    tol: float = 1e-12,
    maxiter: int = 100,
) -> FloatArray | float:
    """Internal rate of return of each path of cash flows, all paths at once.

    Parameters
    ----------
    flows : array_like of shape (..., n_periods)
        Cash flows per period, time last [EUR]. Periods are equally spaced.
    guess : float or array_like of shape (...,), optional
        Rate near which the IRR is sought [fraction/period]. It picks the
        root when the flows change sign more than once; default 0.1, the
        default guess of Excel's and LibreOffice's ``IRR``. For flows that
        change sign once it is only the start of Newton's method (the root
        is unique); by default that start is interpolated from the NPV on a
        grid of rates.
    tol : float, default 1e-12
        Tolerance on the rate, relative to ``1 + r`` (a tolerance on
        ``ln(1 + r)``) [fraction].
    maxiter : int, default 100
        Largest number of Newton iterations for flows that change sign once
        before a path is handed to the bracketed solver [-].

    Returns
    -------
    float or numpy.ndarray of shape (...,)
        Rate per period at which the NPV of the path is zero
        [fraction/period]; NaN where there is none (flows that never change
        sign, all zeros, non-finite flows, or no sign change of the NPV on
        the grid of rates).

    Notes
    -----
    The IRR is a rate :math:`r > -1` solving

    .. math:: \\sum_{t=0}^{T-1} \\frac{c_t}{(1 + r)^t} = 0
              \\iff f(v) = \\sum_{t=0}^{T-1} c_t v^t = 0,
              \\quad v = \\frac{1}{1 + r} > 0 .

    It is the same for :func:`npv` and :func:`present_value` (they differ by a
    factor :math:`1 + r`).

    *Which root.* Flows that change sign once (the usual investment
    profile) have exactly one root :math:`v > 0` (Descartes' rule of signs):
    that is the IRR, the same as ``numpy_financial.irr``'s and a
    spreadsheet's. Flows that change sign several times (a second
    investment funded later, such as a hardware refresh) can have several
    roots, and the IRR is then **the root nearest the guess** (0.1 unless
    given), among the roots that the grid of rates ``_BRACKET_GRID`` (from
    -99 % to 10,000 %, every 1 % from -30 % to 60 %) separates:

    1. the NPV is evaluated at every grid rate, and the intervals between
       neighbouring grid rates where it changes sign bracket the roots;
    2. if the guess lies inside such an interval, the root in it is the IRR;
    3. otherwise the nearest interval below the guess and the nearest above
       it are the candidates; when the one is surely nearer than the other
       (their distance ranges do not overlap) its root is the IRR, else both
       are refined and the root nearer the guess is the IRR (the lower one on
       an exact tie);
    4. with no sign change on the grid the IRR is NaN.

    Two roots within one grid interval (an even number of them) leave no sign
    change and are not seen. ``numpy_financial.irr`` returns the root
    nearest zero instead, so the two can differ for such flows. A
    spreadsheet's ``IRR`` runs Newton's method from its guess and usually,
    not always, lands on the nearest root; the workbook therefore gives its
    ``IRR`` formulas the engine's IRR as the guess, so Excel and LibreOffice
    converge to the same root.

    *Method.* All paths are solved together; loops run over iterations,
    periods and grid rates, never over single paths. One sign change: a
    single matrix product values all paths at 13 rates from -10 % to 50 %,
    the rate where each path's value crosses zero is interpolated (inverse
    cubic) to about 1e-4, and Newton's method on :math:`f(v)` (Horner's
    scheme, one period at a time across all paths) needs about two
    iterations. A path stops when its Newton step, relative to
    :math:`1 + r`, is below `tol`, or when the step is small and successive
    steps show quadratic convergence with a predicted next step below `tol`.
    Paths whose iterate leaves :math:`v > 0`, becomes non-finite or does not
    converge within `maxiter` iterations go to the bracketed solver below,
    which finds their single root the same way.

    Several sign changes: the flows of each path are scaled to a largest
    flow of 1 and valued at every grid rate in one matrix product; the
    chosen interval is refined by Newton's method on :math:`v` safeguarded
    by bisection (a step that would leave the interval, or converge too
    slowly, is replaced by halving the interval), to `tol`. A path's result
    does not depend on the other paths in the call.

    Examples
    --------
    >>> round(irr([-100.0, 110.0]), 12)
    0.1
    >>> round(irr([-100.0, 39.0, 59.0, 55.0, 20.0]), 6)
    0.280948
    >>> irr([[-100.0, 60.0, 60.0], [100.0, 10.0, 10.0]]).round(6)
    array([0.130662,      nan])
    >>> round(irr([-100.0, 230.0, -131.25]), 12)  # roots 0.05 and 0.25
    0.05
    >>> round(irr([-100.0, 230.0, -131.25], guess=0.3), 12)
    0.25
    >>> round(irr([-100.0, 217.0, -117.3]), 12)  # roots 0.02 and 0.15
    0.15
    """
    values = np.asarray(flows, dtype=np.float64)
    leading_shape = values.shape[:-1]
    n_periods = values.shape[-1]
    n_paths = int(np.prod(leading_shape, dtype=np.int64))
    rates = np.full(n_paths, np.nan)
    if n_periods < 2 or n_paths == 0:
        return _as_result(rates.reshape(leading_shape))

    by_period = _period_major(values.reshape(n_paths, n_periods))
    has_change, several_changes = _sign_change_classes(by_period)
    finite = np.isfinite(by_period.sum(axis=0))
    if guess is None:
        near = np.full(n_paths, SPREADSHEET_IRR_GUESS)
    else:
        near = np.broadcast_to(np.asarray(guess, dtype=np.float64), leading_shape)
        near = near.reshape(n_paths)

    one_root = np.flatnonzero(has_change & ~several_changes & finite)
    if one_root.size:
        data = by_period if one_root.size == n_paths else by_period[:, one_root]
        start = _interpolated_guess(data) if guess is None else near[one_root]
        rates[one_root] = _newton_irr(data, start, tol, maxiter)
        retry = one_root[np.isnan(rates[one_root])]
        if retry.size:
            rates[retry] = _nearest_root(by_period[:, retry], near[retry], tol)

    several_roots = np.flatnonzero(several_changes & finite)
    if several_roots.size:
        data = by_period if several_roots.size == n_paths else by_period[:, several_roots]
        rates[several_roots] = _nearest_root(data, near[several_roots], tol)
    return _as_result(rates.reshape(leading_shape))
