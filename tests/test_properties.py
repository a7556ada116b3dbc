"""Invariants of the engine under random inputs (hypothesis).

Whatever the inputs (resale of retired compute included), money is conserved: sources
equal uses every year, partner flows add up to the equity flow, the debt is repaid by
maturity and never negative, grants stay within their caps, the distribution lock-up
account and the debt service reserve never go negative and are empty at the end; and the project NPV falls
as the discount rate rises when every outflow comes first. Minimum taxation (a yearly limit on
the losses brought forward that may be offset) only defers offsets: the tax is never negative,
nor the loss pool, the total tax is at least that without the limit, and no more losses are
offset than were made.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bizcase import assumptions, engine, finance
from tests.conftest import TINY

TRANCHE = """
[[debt]]
name = "Loan"
gearing = {gearing}
interest_rate = {rate}
tenor_years = {tenor}
grace_years = {grace}
repayment = "{profile}"
upfront_fee = 0.01
lockup_dscr = {lockup}
dsra_months = {dsra}

[[grants]]
name = "Grant"
share_of_eligible_capex = {grant}
cap_eur = {cap}
eligible = ["facility", "compute_initial", "compute_refresh"]

[[customers]]
name = "Anchor"
gpus = 300
price_eur_per_gpu_hour = 0.9
first_operating_year = 1
years = 3
"""

inputs = st.fixed_dictionaries({
    "gearing": st.floats(0.0, 0.8),
    "rate": st.floats(0.0, 0.12),
    "tenor": st.integers(3, 8),
    "grace": st.integers(0, 2),
    "profile": st.sampled_from(["annuity", "linear", "sculpted"]),
    "grant": st.floats(0.0, 0.5),
    "cap": st.floats(1e5, 1e8),
    "price": st.floats(0.2, 3.0),
    "decline": st.floats(0.0, 0.4),
    "tax": st.floats(0.0, 0.4),
    "life": st.integers(2, 10),
    "overrun": st.floats(-0.2, 0.8),
    "resale": st.floats(0.0, 1.0),
    "lockup": st.one_of(st.just(0.0), st.floats(0.0, 10.0)),
    "dsra": st.one_of(st.just(0.0), st.floats(0.0, 24.0)),
    "threshold": st.one_of(st.just(1e15), st.floats(0.0, 5e6)),
    "share": st.floats(0.0, 1.0),
})


def tiny_case(extra: str, **values: object) -> assumptions.Case:
    """The tiny plant over 8 operating years, with extra tables and values."""
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 8")
    return assumptions.loads((text + extra).encode(), "tiny.toml").with_values(values)


def build(x: dict) -> engine.ModelResult:
    case = tiny_case(
        TRANCHE.format(**x),
        **{
            "revenue.launch_price_eur_per_gpu_hour": x["price"],
            "revenue.price_decline": x["decline"],
            "tax.rate": x["tax"],
            "capex.compute_life_years": x["life"],
            "capex.overrun": x["overrun"],
            "capex.residual_value_share": 0.3,
            "capex.compute_resale_share": x["resale"],
            "tax.loss_offset_threshold_eur": x["threshold"],
            "tax.loss_offset_share_above_threshold": x["share"],
        },
    )
    return engine.evaluate(case)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_money_is_conserved(x):
    res = build(x)
    failed = {c["name"]: c["worst_deviation"] for c in res.checks if not c["passed"]}
    assert not failed
    sources = sum(res.line(n) for n in ("grants_eur", "debt_drawdown_eur", "equity_contributions_eur", "equity_calls_eur", "cfads_eur", "terminal_value_eur", "compute_resale_eur", "lockup_released_eur"))
    uses = sum(res.line(n) for n in ("capex_eur", "debt_fees_eur", "debt_service_eur", "distributions_eur", "lockup_retained_eur", "dsra_funding_eur"))
    np.testing.assert_allclose(sources, uses, rtol=0, atol=1e-6 * max(1.0, float(res.kpis["total_capex_eur"][0])))
    partner_total = sum(p["cash_flow_eur"] for p in res.partners)
    np.testing.assert_allclose(partner_total, res.line("equity_cash_flow_eur"), rtol=1e-12, atol=1e-6)
    assert res.line("debt_balance_eur").min() > -1e-6
    assert abs(res.line("debt_balance_eur")[0, -1]) < 1e-6
    assert (res.line("tax_eur") >= 0).all()
    # the lock-up account never goes negative and is empty at the end
    lockup = res.line("lockup_balance_eur")
    assert lockup.min() >= 0.0 and lockup[0, -1] == 0.0
    np.testing.assert_allclose(np.cumsum(res.line("lockup_retained_eur") - res.line("lockup_released_eur"), axis=-1), lockup, rtol=0, atol=1e-6)
    assert (res.line("distributions_eur") >= 0).all() and (res.line("equity_calls_eur") >= 0).all()
    # the DSRA holds dsra_months / 12 of the next year's debt service, is funded and released
    # through the waterfall and is empty at the end
    dsra = res.line("dsra_target_eur")[0]
    following = np.append(res.line("debt_service_eur")[0, 1:], 0.0)
    np.testing.assert_allclose(dsra, x["dsra"] / 12.0 * following, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(np.cumsum(res.line("dsra_funding_eur")[0]), dsra, rtol=0, atol=1e-6)
    assert dsra.min() >= 0.0 and dsra[-1] == 0.0


@settings(max_examples=40, deadline=None)
@given(inputs, st.floats(0.0, 0.3), st.floats(0.001, 0.2))
def test_project_npv_falls_with_the_rate_when_outflows_come_first(x, r, dr):
    res = build({**x, "life": 10, "overrun": 0.0})  # no refresh: capex only in period 0
    flows = res.line("project_cash_flow_eur")[0]
    if flows[0] < 0 and (flows[1:] >= 0).all():
        assert finance.present_value(r + dr, flows) <= finance.present_value(r, flows) + 1e-6


@settings(max_examples=40, deadline=None)
@given(inputs)
def test_irr_makes_npv_zero(x):
    res = build(x)
    for flows_name, kpi in (("project_cash_flow_eur", "project_irr"), ("equity_cash_flow_eur", "equity_irr")):
        irr = float(res.kpis[kpi][0])
        if np.isfinite(irr):
            flows = res.line(flows_name)[0]
            scale = np.abs(flows).sum()
            assert abs(finance.npv(irr, flows)) < 1e-7 * scale


profits = hnp.arrays(float, st.tuples(st.integers(1, 4), st.integers(1, 12)), elements=st.floats(-1e9, 1e9))


def _assert_limits_only_defer(profit, tax, pool, offset, unlimited_tax, scale):
    assert (tax >= 0).all() and (pool >= 0).all() and (offset >= 0).all()
    # total offsets = total losses − losses left at the end ≤ total losses
    losses = np.maximum(-profit, 0.0).sum(axis=-1)
    assert (offset.sum(axis=-1) <= losses + 1e-9 * scale).all()
    assert (tax.sum(axis=-1) >= unlimited_tax.sum(axis=-1) - 1e-9 * scale).all()


@settings(max_examples=200, deadline=None)
@given(profits, st.floats(0.0, 2e8), st.floats(0.0, 1.0), st.floats(0.0, 0.5))
def test_minimum_taxation_only_defers_offsets(profit, threshold, share, rate):
    tax, pool, offset = engine._tax(profit, rate, True, threshold, share)
    unlimited, _, _ = engine._tax(profit, rate, True)
    scale = max(1.0, float(np.abs(profit).sum()))
    _assert_limits_only_defer(profit, tax, pool, offset, unlimited, scale)
    # the pool rolls forward: opening − offset + loss
    opening = np.concatenate([np.zeros_like(pool[:, :1]), pool[:, :-1]], axis=1)
    np.testing.assert_allclose(pool, opening - offset + np.maximum(-profit, 0.0), rtol=0, atol=1e-9 * scale)
    assert (offset <= np.minimum(opening, np.maximum(profit, 0.0)) + 1e-9 * scale).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_minimum_taxation_only_defers_tax_in_the_model(x):
    res = build(x)
    free = build({**x, "threshold": 1e15, "share": 1.0})
    scale = max(1.0, float(np.abs(res.line("ebt_eur")).sum()))
    for tax_line, profit_line in (("tax_eur", "ebt_eur"), ("unlevered_tax_eur", "ebit_eur")):
        profit = res.line(profit_line)
        np.testing.assert_array_equal(profit, free.line(profit_line))  # debt is sized before tax
        tax, pool, offset = engine._tax(profit, x["tax"], True, x["threshold"], x["share"])
        np.testing.assert_array_equal(tax, res.line(tax_line))
        _assert_limits_only_defer(profit, tax, pool, offset, free.line(tax_line), scale)
        if tax_line == "tax_eur":
            np.testing.assert_array_equal(offset, res.line("tax_loss_offset_eur"))
            np.testing.assert_array_equal(pool, res.line("tax_loss_pool_eur"))
