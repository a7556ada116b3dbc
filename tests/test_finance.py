"""Tests for bizcase.finance: discounting, NPV, IRR, payback, exposure, MOIC.

Where each expected number comes from is said next to it: a hand
calculation (worked in the comment), numpy-financial, or LibreOffice Calc
7.4 (a workbook holding the same flows and ``=IRR(...)``, ``=NPV(...)`` and
``=PMT(...)`` formulas, recalculated headless).
"""

from __future__ import annotations

import doctest

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bizcase import finance
from bizcase.finance import (
    annuity_payment,
    discount_factors,
    irr,
    moic,
    npv,
    payback_period,
    payback_year,
    peak_exposure,
    present_value,
)

# --------------------------------------------------------------------------
# Strategies and helpers
# --------------------------------------------------------------------------


@st.composite
def conventional_flows(draw: st.DrawFn) -> np.ndarray:
    """(n_paths, T) flows: 1-3 outflow periods first, then inflows (one sign change).

    Magnitudes are kept project-like (multiple on capital at least 0.1) so the
    IRR lies well inside (-1, inf) and numpy-financial's root finder is
    accurate.
    """
    n_paths = draw(st.integers(1, 6))
    n_periods = draw(st.integers(2, 40))
    n_out = draw(st.integers(1, min(3, n_periods - 1)))
    outflows = draw(hnp.arrays(np.float64, (n_paths, n_out), elements=st.floats(10.0, 1000.0)))
    inflow = st.one_of(st.just(0.0), st.floats(1.0, 500.0))
    inflows = draw(hnp.arrays(np.float64, (n_paths, n_periods - n_out), elements=inflow))
    flows = np.concatenate([-outflows, inflows], axis=1)
    assume(bool(np.all(moic(flows) >= 0.1)))
    return flows


def close_rates(actual: np.ndarray, expected: np.ndarray, tol: float = 1e-9) -> bool:
    """Rates agree to `tol`, relative to the rate once it is above 1."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = np.maximum(1.0, np.abs(expected))
    return bool(np.all(np.abs(actual - expected) <= tol * scale))


def spreadsheet_irr(flows: list[float], guess: float = 0.1) -> float:
    """IRR as a spreadsheet computes it: scalar Newton on the rate from `guess`.

    A plain reference, written independently of bizcase.finance: NPV(r) =
    sum c_t (1 + r)^-t and its derivative, iterated until the step is tiny.
    """
    rate = guess
    for _ in range(200):
        growth = 1.0 + rate
        if growth <= 0.0:
            raise AssertionError("reference Newton left the domain r > -1")
        value = sum(c / growth**t for t, c in enumerate(flows))
        slope = sum(-t * c / growth ** (t + 1) for t, c in enumerate(flows))
        step = value / slope
        rate -= step
        if abs(step) < 1e-14:
            return rate
    raise AssertionError("reference Newton did not converge")


def realistic_flows(rng: np.random.Generator, n_paths: int, n_periods: int = 25) -> np.ndarray:
    """Capex of 80-120 at t=0, then a ramp to a plateau with 15 % noise."""
    periods = np.arange(n_periods)
    capex = rng.uniform(80.0, 120.0, n_paths)
    plateau = rng.uniform(10.0, 25.0, (n_paths, 1))
    ramp_years = rng.integers(2, 6, (n_paths, 1))
    flows = np.minimum(periods / ramp_years, 1.0) * plateau
    flows *= 1.0 + 0.15 * rng.standard_normal((n_paths, n_periods))
    flows[:, 0] = -capex
    return flows


# --------------------------------------------------------------------------
# Docstring examples
# --------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    results = doctest.testmod(finance, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0
    assert results.failed == 0


# --------------------------------------------------------------------------
# discount_factors and present_value
# --------------------------------------------------------------------------


def test_discount_factors_end_and_mid_by_hand() -> None:
    # end: 1.1^-1, 1.1^-2, 1.1^-3; mid: 1.1^-0.5, 1.1^-1.5, 1.1^-2.5
    np.testing.assert_allclose(
        discount_factors(0.10, 3), [1 / 1.1, 1 / 1.21, 1 / 1.331], rtol=1e-15
    )
    np.testing.assert_allclose(
        discount_factors(0.10, 3, timing="mid"),
        [1.1**-0.5, 1.1**-1.5, 1.1**-2.5],
        rtol=1e-15,
    )


def test_discount_factors_broadcast_over_rates() -> None:
    rates = np.array([[0.0, 0.05], [0.10, 0.20]])
    factors = discount_factors(rates, 4)
    assert factors.shape == (2, 2, 4)
    np.testing.assert_allclose(factors[1, 1], 1.2 ** -np.arange(1.0, 5.0))
    np.testing.assert_array_equal(factors[0, 0], np.ones(4))


def test_unknown_timing_is_rejected() -> None:
    with pytest.raises(ValueError, match="timing"):
        discount_factors(0.1, 3, timing="start")
    with pytest.raises(ValueError, match="timing"):
        present_value(0.1, [1.0, 2.0], timing="begin")


def test_present_value_end_is_excel_npv() -> None:
    flows = [-40_000.0, 5_000.0, 8_000.0, 12_000.0, 30_000.0]
    # Excel / LibreOffice =NPV(0.08, -40000, 5000, 8000, 12000, 30000)
    # discounts the first value one full period: sum f_t / 1.08^(t+1).
    by_hand = sum(f / 1.08 ** (t + 1) for t, f in enumerate(flows))
    assert present_value(0.08, flows) == pytest.approx(by_hand, rel=1e-14)
    # LibreOffice Calc 7.4 shows 2838.16913720326 for that formula.
    assert present_value(0.08, flows) == pytest.approx(2838.16913720326, rel=1e-13)


def test_present_value_small_hand_cases() -> None:
    # 110 / 1.1 + 121 / 1.21 = 100 + 100
    assert present_value(0.10, [110.0, 121.0]) == pytest.approx(200.0, rel=1e-15)
    # mid-period: 110 / 1.1^0.5 + 121 / 1.1^1.5 = 110 / 1.0488088 + 121 / 1.1536897
    expected_mid = 110.0 / 1.1**0.5 + 121.0 / 1.1**1.5
    assert present_value(0.10, [110.0, 121.0], timing="mid") == pytest.approx(
        expected_mid, rel=1e-15
    )
    # Mid-period flows are discounted half a period less than end-of-period
    # ones: the mid value is the end value times (1 + r)^0.5.
    assert present_value(0.10, [110.0, 121.0], timing="mid") == pytest.approx(
        200.0 * 1.1**0.5, rel=1e-14
    )


def test_present_value_rate_per_path() -> None:
    flows = np.array([[100.0, 100.0], [100.0, 100.0]])
    # path 0 at 0 %: 200; path 1 at 100 %: 100/2 + 100/4 = 75
    np.testing.assert_allclose(present_value([0.0, 1.0], flows), [200.0, 75.0])


# --------------------------------------------------------------------------
# npv
# --------------------------------------------------------------------------


def test_npv_hand_cases() -> None:
    # -100 + 110 / 1.05 = 4.76190476...
    assert npv(0.05, [-100.0, 110.0]) == pytest.approx(-100.0 + 110.0 / 1.05, rel=1e-15)
    # The first flow is not discounted: a single flow is its own NPV.
    assert npv(0.37, [-123.0]) == -123.0
    # numpy-financial's docstring: npf.npv(0.08, [-40000, 5000, 8000, 12000, 30000])
    # = 3065.22267 (rounded to 5 decimals).
    assert npv(0.08, [-40_000.0, 5_000.0, 8_000.0, 12_000.0, 30_000.0]) == pytest.approx(
        3065.22267, abs=5e-6
    )


@settings(max_examples=60, deadline=None)
@given(flows=conventional_flows(), rate=st.floats(-0.5, 2.0))
def test_npv_matches_numpy_financial(flows: np.ndarray, rate: float) -> None:
    expected = np.array([npf.npv(rate, row) for row in flows])
    scale = np.sum(np.abs(flows), axis=1) * max(1.0, (1.0 + rate) ** -flows.shape[1])
    assert npv(rate, flows).shape == (flows.shape[0],)
    assert np.all(np.abs(npv(rate, flows) - expected) <= 1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(flows=conventional_flows(), data=st.data())
def test_npv_rate_per_path_matches_numpy_financial(flows: np.ndarray, data: st.DataObject) -> None:
    rates = data.draw(hnp.arrays(np.float64, flows.shape[0], elements=st.floats(0.0, 0.5)))
    expected = np.array([npf.npv(r, row) for r, row in zip(rates, flows, strict=True)])
    np.testing.assert_allclose(npv(rates, flows), expected, rtol=1e-12, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(flows=conventional_flows(), rate=st.floats(-0.5, 2.0))
def test_npv_is_present_value_carried_one_period(flows: np.ndarray, rate: float) -> None:
    # npv(r, f) == present_value(r, f) * (1 + r), the module's stated relation.
    np.testing.assert_allclose(
        npv(rate, flows), present_value(rate, flows) * (1.0 + rate), rtol=1e-12, atol=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    first=st.floats(10.0, 1000.0),
    inflows=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0.0, 500.0)),
    rates=st.lists(st.floats(-0.5, 1.0), min_size=2, max_size=2, unique=True),
)
def test_npv_falls_with_rate_after_a_single_outflow(
    first: float, inflows: np.ndarray, rates: list[float]
) -> None:
    # One outflow at t = 0 and inflows after it: every term but the first
    # shrinks as the rate rises, so the NPV cannot rise.
    assume(bool(np.any(inflows > 0.0)))
    flows = np.concatenate([[-first], inflows])
    low, high = sorted(rates)
    rounding = 1e-12 * np.sum(np.abs(flows)) * 2.0**flows.size
    assert npv(high, flows) <= npv(low, flows) + rounding


@settings(max_examples=60, deadline=None)
@given(flows=conventional_flows(), shift=st.floats(0.001, 0.5))
def test_npv_sign_around_irr_when_outflows_come_first(flows: np.ndarray, shift: float) -> None:
    # With all outflows first the NPV has one root: positive below the IRR,
    # negative above it.
    rates = np.asarray(irr(flows))
    assert np.all(np.isfinite(rates))
    assert np.all(npv(rates - shift * (1.0 + rates), flows) > 0.0)
    assert np.all(npv(rates + shift, flows) < 0.0)


# --------------------------------------------------------------------------
# irr
# --------------------------------------------------------------------------


def test_irr_hand_cases() -> None:
    # -100 + 110 / (1 + r) = 0  ->  r = 0.10
    assert irr([-100.0, 110.0]) == pytest.approx(0.10, abs=1e-14)
    # -100 + 121 / (1 + r)^2 = 0  ->  (1 + r)^2 = 1.21  ->  r = 0.10
    assert irr([-100.0, 0.0, 121.0]) == pytest.approx(0.10, abs=1e-14)
    # Leading and trailing zeros do not change the rate.
    assert irr([0.0, -100.0, 0.0, 121.0, 0.0]) == pytest.approx(0.10, abs=1e-14)
    # -100 + 50 / (1 + r) = 0  ->  r = -0.5 (losing half the money in a year)
    assert irr([-100.0, 50.0]) == pytest.approx(-0.5, abs=1e-14)
    # Borrowing: +100 now, -110 in a year is also 10 %.
    assert irr([100.0, -110.0]) == pytest.approx(0.10, abs=1e-14)


def test_irr_numpy_financial_docstring_examples() -> None:
    # npf.irr docstring: 0.28095, -0.0955, -0.0833, 0.06206, 0.0886 (rounded).
    # LibreOffice Calc 7.4 =IRR agrees: 28.0948421159961 %, -8.32996661849326 %,
    # 8.85983385277551 %.
    assert irr([-100.0, 39.0, 59.0, 55.0, 20.0]) == pytest.approx(0.280948421159961, abs=1e-13)
    assert round(irr([-100.0, 0.0, 0.0, 74.0]), 5) == -0.0955
    assert irr([-100.0, 100.0, 0.0, -7.0]) == pytest.approx(-0.0832996661849326, abs=1e-13)
    assert round(irr([-100.0, 100.0, 0.0, 7.0]), 5) == 0.06206
    assert irr([-5.0, 10.5, 1.0, -8.0, 1.0]) == pytest.approx(0.0885983385277551, abs=1e-13)


@settings(max_examples=80, deadline=None)
@given(flows=conventional_flows())
def test_irr_matches_numpy_financial_on_conventional_flows(flows: np.ndarray) -> None:
    expected = np.array([npf.irr(row) for row in flows])
    actual = irr(flows)
    assert actual.shape == (flows.shape[0],)
    assert close_rates(actual, expected)


@settings(max_examples=80, deadline=None)
@given(flows=conventional_flows())
def test_irr_makes_npv_zero(flows: np.ndarray) -> None:
    rates = np.asarray(irr(flows))
    discount = (1.0 + rates[:, None]) ** -np.arange(flows.shape[1])
    scale = np.sum(np.abs(flows) * discount, axis=1)
    assert np.all(np.abs(npv(rates, flows)) <= 1e-10 * scale)


@settings(max_examples=40, deadline=None)
@given(flows=conventional_flows(), guess=st.floats(-0.5, 3.0))
def test_irr_of_one_sign_change_does_not_depend_on_guess(flows: np.ndarray, guess: float) -> None:
    assert close_rates(irr(flows, guess=guess), irr(flows), tol=1e-10)


@settings(max_examples=40, deadline=None)
@given(flows=conventional_flows())
def test_bracketing_fallback_agrees_with_newton(flows: np.ndarray) -> None:
    # maxiter=0 skips Newton and sends every path to the scan-and-bisect
    # fallback, which must land on the same root.
    assert close_rates(irr(flows, maxiter=0), irr(flows), tol=1e-11)


def test_irr_on_many_paths_agrees_with_numpy_financial_per_path() -> None:
    rng = np.random.default_rng(20240611)
    flows = realistic_flows(rng, 10_000)
    rates = irr(flows)
    assert rates.shape == (10_000,)
    assert np.all(np.isfinite(rates))
    sample = rng.choice(10_000, size=200, replace=False)
    expected = np.array([npf.irr(flows[i]) for i in sample])
    np.testing.assert_allclose(rates[sample], expected, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("n_periods", [2, 3, 5, 10, 25, 60])
def test_irr_wide_range_of_rates_agrees_with_numpy_financial(n_periods: int) -> None:
    # Inflows from 2 % to 20x the outlay: rates from near -100 % to above 1000 %,
    # well outside the grid used for the starting values.
    rng = np.random.default_rng(n_periods)
    scale = np.exp(rng.uniform(np.log(0.02), np.log(20.0), (2_000, 1)))
    flows = rng.uniform(0.0, 1.0, (2_000, n_periods)) * scale
    flows[:, 0] = -rng.uniform(1.0, 3.0, 2_000)
    rates = irr(flows)
    sample = rng.choice(2_000, size=100, replace=False)
    expected = np.array([npf.irr(flows[i]) for i in sample])
    assert close_rates(rates[sample], expected)


def test_irr_of_borrowing_flows_matches_numpy_financial() -> None:
    # Money in first, repayments after: one sign change the other way round.
    rng = np.random.default_rng(11)
    flows = -realistic_flows(rng, 500, 15)
    expected = np.array([npf.irr(row) for row in flows])
    assert close_rates(irr(flows), expected)
    # +100 now, -60 and -60 later costs the same 13.07 % as the mirror investment.
    assert irr([100.0, -60.0, -60.0]) == pytest.approx(irr([-100.0, 60.0, 60.0]), abs=1e-14)


def test_irr_any_memory_layout_and_input_untouched() -> None:
    rng = np.random.default_rng(12)
    flows = realistic_flows(rng, 300, 20)
    original = flows.copy()
    expected = irr(flows)
    np.testing.assert_array_equal(flows, original)
    np.testing.assert_allclose(irr(np.asfortranarray(flows)), expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(irr(flows[::2]), expected[::2], rtol=0, atol=1e-13)
    np.testing.assert_allclose(irr(flows.tolist()), expected, rtol=0, atol=1e-13)


def test_irr_nan_where_there_is_no_rate() -> None:
    assert np.isnan(irr([10.0, 20.0, 30.0]))  # all inflows
    assert np.isnan(irr([-10.0, -20.0]))  # all outflows
    assert np.isnan(irr([0.0, 0.0, 0.0]))  # nothing at all
    assert np.isnan(irr([-100.0]))  # a single period
    assert np.isnan(irr([-100.0, np.nan, 120.0]))  # missing data
    assert np.isnan(irr([-100.0, np.inf, 120.0]))
    # Two sign changes but 1 - 3v + 3v^2 > 0 for every v: no real root.
    assert np.isnan(irr([1.0, -3.0, 3.0]))


def test_irr_nan_paths_do_not_disturb_the_others() -> None:
    flows = np.array([[-100.0, 110.0, 0.0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0], [-100.0, 0.0, 121.0]])
    rates = irr(flows)
    np.testing.assert_allclose(rates[[0, 3]], [0.10, 0.10], atol=1e-14)
    assert np.isnan(rates[1]) and np.isnan(rates[2])


def test_irr_shapes() -> None:
    rng = np.random.default_rng(3)
    flows = realistic_flows(rng, 6, 12).reshape(2, 3, 12)
    rates = irr(flows)
    assert rates.shape == (2, 3)
    for index in np.ndindex(2, 3):
        assert rates[index] == pytest.approx(npf.irr(flows[index]), abs=1e-9)
    assert isinstance(irr(flows[0, 0]), float)
    assert irr(np.empty((0, 5))).shape == (0,)


def test_irr_guess_per_path() -> None:
    # Three real roots, 10 %, 20 % and 30 %:
    # -1000 + 3600 x - 4310 x^2 + 1716 x^3 = 0 with x = 1 / (1 + r), i.e.
    # 1000 (y - 1.1)(y - 1.2)(y - 1.3) = 0 with y = 1 + r.
    three_roots = [-1000.0, 3600.0, -4310.0, 1716.0]
    flows = np.array([three_roots, three_roots, three_roots])
    rates = irr(flows, guess=np.array([0.09, 0.21, 0.35]))
    np.testing.assert_allclose(rates, [0.10, 0.20, 0.30], atol=1e-12)


# Flows with several sign changes: which root is returned ------------------


def real_rates(flows: np.ndarray) -> np.ndarray:
    """Every real IRR of a path, from numpy.roots on f(v) = sum_t c_t v^t.

    Independent of bizcase.finance: the roots v > 0 of the polynomial
    (highest power first for numpy.roots), turned into rates r = 1/v - 1.
    """
    v = np.roots(np.asarray(flows, dtype=np.float64)[::-1])
    real = v[(np.abs(v.imag) <= 1e-9 * np.abs(v)) & (v.real > 0.0)].real
    return np.sort(1.0 / real - 1.0)


def refresh_flows(
    rng: np.random.Generator, n_paths: int, n_periods: int = 17, decommissioning: bool = False
) -> np.ndarray:
    """Capex over two years, a noisy plateau, and hardware refreshes every 4 years.

    The refreshes (0.8-1.6 times a year's capex, from year 6 on) make the
    flows change sign several times, as the equity flows of the GPU plant do.
    With `decommissioning`, a last-year outflow brings the undiscounted total
    to within +-30 % of the capex around zero, which gives many paths two
    IRRs (and some none).
    """
    periods = np.arange(n_periods)
    capex = rng.uniform(80.0, 120.0, (n_paths, 1))
    plateau = rng.uniform(15.0, 45.0, (n_paths, 1))
    flows = plateau * (1.0 + 0.2 * rng.standard_normal((n_paths, n_periods)))
    flows[:, :2] = -capex * np.array([0.3, 0.7])
    refresh = (periods >= 6) & (periods % 4 == 2)
    flows[:, refresh] -= capex * rng.uniform(0.8, 1.6, (n_paths, int(refresh.sum())))
    if decommissioning:
        flows[:, -1] -= flows.sum(axis=1) + rng.uniform(-0.3, 0.3, n_paths) * capex[:, 0]
    return flows


def test_irr_two_roots_nearest_to_spreadsheet_guess() -> None:
    # -100 + 230 v - 131.25 v^2 = 0 with y = 1 + r = 1 / v:
    # -100 y^2 + 230 y - 131.25 = 0  ->  y = (230 +- 20) / 200  ->  r = 5 % or 25 %.
    flows = [-100.0, 230.0, -131.25]
    # LibreOffice Calc 7.4: =IRR(...) 5.00000000000003 %, =IRR(..., 0.3) 25.0000000000003 %.
    # numpy-financial returns the root nearest zero: also 5 %.
    assert irr(flows) == pytest.approx(0.05, abs=1e-13)
    assert npf.irr(flows) == pytest.approx(0.05, abs=1e-13)
    assert irr(flows) == pytest.approx(spreadsheet_irr(flows), abs=1e-13)
    assert irr(flows, guess=0.3) == pytest.approx(0.25, abs=1e-12)
    assert irr(flows, guess=0.3) == pytest.approx(spreadsheet_irr(flows, 0.3), abs=1e-12)


def test_irr_two_roots_where_numpy_financial_differs() -> None:
    # -100 y^2 + 217 y - 117.3 = -100 (y - 1.02)(y - 1.15): roots 2 % and 15 %.
    flows = [-100.0, 217.0, -117.3]
    # numpy-financial takes the root nearest zero (2 %); the root nearest the
    # guess 0.1 is 15 % (0.05 away, 2 % is 0.08 away), which is also what
    # LibreOffice Calc 7.4 returns (=IRR(...) 14.9999999999999 %).
    assert npf.irr(flows) == pytest.approx(0.02, abs=1e-12)
    assert spreadsheet_irr(flows) == pytest.approx(0.15, abs=1e-12)
    assert irr(flows) == pytest.approx(0.15, abs=1e-12)
    assert irr(flows, guess=0.0) == pytest.approx(0.02, abs=1e-12)


def test_irr_three_roots_nearest_the_guess() -> None:
    flows = [-1000.0, 3600.0, -4310.0, 1716.0]  # roots 10 %, 20 %, 30 % (see above)
    # LibreOffice Calc 7.4: =IRR(...) 10 %, =IRR(..., 0.3) 30 %.
    assert irr(flows) == pytest.approx(0.10, abs=1e-12)
    assert irr(flows, guess=0.3) == pytest.approx(0.30, abs=1e-12)
    assert irr(flows) == pytest.approx(spreadsheet_irr(flows), abs=1e-12)
    # Nearest root to each guess, by hand: below 15 % it is 10 %, from 15 %
    # to 25 % it is 20 %, above 25 % it is 30 %.
    guesses = np.array([-0.5, 0.0, 0.12, 0.14, 0.16, 0.24, 0.26, 0.5, 5.0])
    rates = irr(np.tile(flows, (guesses.size, 1)), guess=guesses)
    expected = [0.10, 0.10, 0.10, 0.10, 0.20, 0.20, 0.30, 0.30, 0.30]
    np.testing.assert_allclose(rates, expected, rtol=0.0, atol=1e-12)


def test_irr_guess_inside_a_bracket_takes_that_bracket() -> None:
    # Roots 10.35 % and 11.95 % (and 40 %): flows from the polynomial in y = 1 + r.
    flows = list(np.poly([1.1035, 1.1195, 1.4]))
    np.testing.assert_allclose(real_rates(flows), [0.1035, 0.1195, 0.4], atol=1e-9)
    # The guess 11.1 % lies in the grid interval [11 %, 12 %] that holds
    # 11.95 %; that root is returned although 10.35 % is slightly nearer
    # (0.0075 away against 0.0085).
    assert irr(flows, guess=0.111) == pytest.approx(0.1195, abs=1e-12)
    # From 10 % (a grid rate, inside no interval) the nearer root wins.
    assert irr(flows) == pytest.approx(0.1035, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    roots=st.lists(st.floats(-0.5, 1.0), min_size=2, max_size=4, unique=True),
    complex_pair=st.one_of(st.none(), st.tuples(st.floats(0.3, 2.0), st.floats(0.05, 0.5))),
    scale=st.floats(1e-3, 1e9),
)
def test_irr_several_roots_is_the_root_nearest_the_guess(
    roots: list[float], complex_pair: tuple[float, float] | None, scale: float
) -> None:
    # NPV * y^n = scale * prod(y - (1 + root)) [* a pair of complex roots],
    # y = 1 + r: flows with known real roots, two or more, so the flows
    # change sign at least twice. Roots more than a grid step (5 % at most
    # in [-50 %, 100 %]) apart are all bracketed by the grid.
    assume(min(np.diff(sorted(roots))) > 0.06)
    coefficients = np.poly([1.0 + r for r in roots])  # highest power of y first = flow at t = 0
    if complex_pair is not None:
        real_part, imaginary_part = complex_pair
        coefficients = np.polymul(
            coefficients, [1.0, -2.0 * real_part, real_part**2 + imaginary_part**2]
        )
    flows = scale * coefficients
    candidates = real_rates(flows)
    distance = np.sort(np.abs(candidates - 0.1))
    assume(distance.size < 2 or distance[1] - distance[0] > 1e-6)  # one nearest root
    expected = candidates[np.argmin(np.abs(candidates - 0.1))]
    rate = irr(flows)
    assert rate == pytest.approx(expected, abs=1e-9)
    # It is a root: the NPV is zero within rounding of its terms.
    terms = flows * (1.0 + rate) ** -np.arange(flows.size)
    assert abs(np.sum(terms)) <= 1e-12 * np.sum(np.abs(terms))


def test_irr_with_refreshes_is_a_root_and_the_root_nearest_ten_percent() -> None:
    rng = np.random.default_rng(7)
    flows = np.concatenate([refresh_flows(rng, 200), refresh_flows(rng, 400, decommissioning=True)])
    rates = irr(flows)
    several = 0
    for row, rate in zip(flows, rates, strict=True):
        candidates = real_rates(row)
        candidates = candidates[(candidates > -0.99) & (candidates < 100.0)]
        if candidates.size == 0:
            assert np.isnan(rate)
            continue
        several += candidates.size > 1
        assert rate == pytest.approx(candidates[np.argmin(np.abs(candidates - 0.1))], abs=1e-8)
        terms = row * (1.0 + rate) ** -np.arange(row.size)
        assert abs(np.sum(terms)) <= 1e-12 * np.sum(np.abs(terms))
    assert several > 50  # the case is exercised: many paths have more than one root


def test_irr_vectorised_equals_per_path_and_does_not_depend_on_the_batch() -> None:
    rng = np.random.default_rng(8)
    flows = np.concatenate(
        [
            refresh_flows(rng, 150),
            refresh_flows(rng, 150, decommissioning=True),
            realistic_flows(rng, 100, 17),
        ]
    )
    flows[::7] = flows[::7, ::-1]  # some borrowing-like profiles too
    rates = irr(flows)
    alone = np.array([irr(row) for row in flows])
    np.testing.assert_array_equal(rates, alone)
    # Another batch: shuffled, halved, and mixed with other paths.
    order = rng.permutation(flows.shape[0])[:200]
    others = refresh_flows(rng, 50)
    mixed = irr(np.concatenate([others, flows[order]]))
    np.testing.assert_array_equal(mixed[50:], rates[order])
    # A per-path guess is also per path alone.
    guesses = rng.uniform(-0.2, 0.6, flows.shape[0])
    guessed = irr(flows, guess=guesses)
    np.testing.assert_array_equal(
        guessed, [irr(row, guess=g) for row, g in zip(flows, guesses, strict=True)]
    )


def test_irr_several_sign_changes_without_a_root_is_nan() -> None:
    # -100 y^2 + 250 y - 160 has discriminant 250^2 - 4 * 100 * 160 < 0: no real root.
    assert np.isnan(irr([-100.0, 250.0, -160.0, 0.0]))
    # Roots only below -99 % (y = 0.005 and 0.008) lie outside the grid.
    assert np.isnan(irr(list(np.poly([0.005, 0.008]))))


# --------------------------------------------------------------------------
# annuity_payment
# --------------------------------------------------------------------------


def test_annuity_payment_hand_cases() -> None:
    # 100 * 0.1 / (1 - 1.1^-2) = 10 / 0.1735537 = 57.6190476
    assert annuity_payment(0.10, 2, 100.0) == pytest.approx(10.0 / (1.0 - 1.1**-2), rel=1e-14)
    # Zero rate: straight repayment, 100 / 4
    assert annuity_payment(0.0, 4, 100.0) == 25.0
    # LibreOffice Calc 7.4: =PMT(0.05, 4, 100) = -28.2011832603463
    assert annuity_payment(0.05, 4, 100.0) == pytest.approx(28.2011832603463, rel=1e-13)


def test_annuity_payment_repays_the_loan() -> None:
    # Roll the balance forward: interest added, payment taken, ends at zero.
    rate, n_periods, principal = 0.07, 12, 1_000_000.0
    payment = annuity_payment(rate, n_periods, principal)
    balance = principal
    for _ in range(n_periods):  # loan balance recurrence
        balance = balance * (1.0 + rate) - payment
    assert balance == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.one_of(st.just(0.0), st.floats(1e-6, 0.5)),
    n_periods=st.integers(1, 50),
    principal=st.floats(1.0, 1e9),
)
def test_annuity_payment_matches_numpy_financial(
    rate: float, n_periods: int, principal: float
) -> None:
    expected = -npf.pmt(rate, n_periods, principal)
    assert annuity_payment(rate, n_periods, principal) == pytest.approx(expected, rel=1e-9)


def test_annuity_payment_broadcasts() -> None:
    rates = np.array([0.0, 0.05, 0.10])
    payments = annuity_payment(rates[:, None], np.array([1, 4]), 100.0)
    assert payments.shape == (3, 2)
    expected = -npf.pmt(rates[:, None], np.array([1, 4]), 100.0)
    np.testing.assert_allclose(payments, expected, rtol=1e-12)


# --------------------------------------------------------------------------
# payback, peak exposure, moic
# --------------------------------------------------------------------------


def test_payback_period_hand_cases() -> None:
    # cumulative -100, -60, -20, 20: >= 0 from the end of period 3 on
    assert payback_period([-100.0, 40.0, 40.0, 40.0]) == 3.0
    # cumulative -100, 0: reaching exactly zero counts
    assert payback_period([-100.0, 100.0]) == 1.0
    # cumulative 0, -100, 0: the leading zero is not a payback
    assert payback_period([0.0, -100.0, 100.0]) == 2.0
    # cumulative 10, -10, 5: positive at first, then negative, then back for good
    assert payback_period([10.0, -20.0, 15.0]) == 2.0
    # cumulative -100, 50, -50, 50: the recovery in period 1 is undone by the
    # dip in period 2; the payback is the recovery after it
    assert payback_period([-100.0, 150.0, -100.0, 100.0]) == 3.0
    # cumulative -100, 50, -50, 50, 0, 20: zero in between still counts as >= 0
    assert payback_period([-100.0, 150.0, -100.0, 100.0, -50.0, 20.0]) == 3.0
    # cumulative -100, 50, -50: recovered once but ends below zero
    assert np.isnan(payback_period([-100.0, 150.0, -100.0]))
    # cumulative -100, -90: never recovers
    assert np.isnan(payback_period([-100.0, 10.0]))
    # cumulative never negative: nothing to pay back
    assert np.isnan(payback_period([10.0, 20.0]))
    assert np.isnan(payback_period([0.0, 0.0]))


def test_payback_period_and_year_over_paths() -> None:
    flows = np.array(
        [
            [-100.0, 60.0, 60.0],  # cumulative -100, -40, 20
            [-100.0, 10.0, 10.0],  # -100, -90, -80: never
            [-50.0, 50.0, 0.0],  # -50, 0, 0: from period 1
            [-50.0, 60.0, -20.0],  # -50, 10, -10: ends below zero
            [10.0, -20.0, 30.0],  # 10, -10, 20: from period 2
        ]
    )
    np.testing.assert_array_equal(payback_period(flows), [2.0, np.nan, 1.0, np.nan, 2.0])
    years = np.array([2026, 2027, 2028])
    np.testing.assert_array_equal(
        payback_year(flows, years), [2028.0, np.nan, 2027.0, np.nan, 2028.0]
    )
    assert payback_year([-100.0, 60.0, 60.0], years) == 2028.0
    assert payback_period(flows.reshape(5, 1, 3)).shape == (5, 1)


@settings(max_examples=80, deadline=None)
@given(flows=hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(-5, 5).map(float)))
def test_payback_period_is_where_the_cumulative_flow_turns_nonnegative_for_good(
    flows: np.ndarray,
) -> None:
    # A plain loop over the periods as the reference.
    cumulative = np.cumsum(flows)
    expected = np.nan
    if cumulative.min() < 0.0 and cumulative[-1] >= 0.0:
        expected = max(t for t in range(flows.size) if cumulative[t] < 0.0) + 1.0
    np.testing.assert_array_equal(payback_period(flows), expected)


def test_peak_exposure_hand_cases() -> None:
    # cumulative -60, -100, -70, 20: deepest point 100
    assert peak_exposure([-60.0, -40.0, 30.0, 90.0]) == 100.0
    # cumulative 10, 5: never below zero
    assert peak_exposure([10.0, -5.0]) == 0.0
    assert peak_exposure([0.0, 0.0]) == 0.0
    assert np.signbit(peak_exposure([0.0, 0.0])) == np.False_
    np.testing.assert_array_equal(peak_exposure([[10.0, -5.0], [-5.0, 10.0]]), [0.0, 5.0])


def test_moic_hand_cases() -> None:
    # (30 + 50 + 70) / 100
    assert moic([-100.0, 30.0, 50.0, 70.0]) == 1.5
    # (50 + 200) / (100 + 50): outflows are summed, not netted against inflows
    assert moic([-100.0, 50.0, -50.0, 200.0]) == pytest.approx(250.0 / 150.0, rel=1e-15)
    # no money in: no multiple
    assert np.isnan(moic([10.0, 20.0]))
    assert np.isnan(moic([0.0, 0.0]))
    np.testing.assert_array_equal(moic([[-50.0, -50.0, 250.0], [1.0, 2.0, 3.0]]), [2.5, np.nan])
