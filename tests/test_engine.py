"""The engine against hand computations on a tiny plant (tests/data/tiny.toml).

Hand working for the tiny plant (1 construction year, 3 operating years):
- capex in period 0 (2026): facility 1 MW × EUR 1,000,000 + compute 1,000 × EUR 10,000
  = EUR 11,000,000 (compute is paid the period before it goes live);
- GPU-hours sold per operating year: 1,000 × 8,760 × 1.0 availability × 0.5 = 4,380,000;
- revenue: 4,380,000 × EUR 1 = EUR 4,380,000;
- power: 1,000 GPUs × 1 kW × (0 + 1 × 0.5) × PUE 1 × 8,760 h / 1,000 = 4,380 MWh × EUR 100
  = EUR 438,000;
- EBITDA = 4,380,000 − 438,000 = EUR 3,942,000 in 2027, 2028, 2029.
"""

from __future__ import annotations

import math

import numpy as np
import numpy_financial as npf
import pytest

from bizcase import assumptions, engine
from tests.conftest import ANNUITY_TRANCHE, TINY, tiny_case

CAPEX = 11_000_000.0
EBITDA = 3_942_000.0
RATE = 0.10


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1.0)


def test_tiny_plant_without_debt_or_tax():
    res = engine.evaluate(tiny_case())
    k = {name: float(v[0]) for name, v in res.kpis.items()}
    flows = [-CAPEX, EBITDA, EBITDA, EBITDA]
    # NPV at 1 Jan 2026 with year-end flows: Σ f_t / 1.1^(t+1)
    npv_hand = -CAPEX / 1.1 + EBITDA / 1.1**2 + EBITDA / 1.1**3 + EBITDA / 1.1**4
    assert rel(k["total_capex_eur"], CAPEX) < 1e-12
    assert rel(k["project_npv_eur"], npv_hand) < 1e-9
    assert rel(k["project_irr"], npf.irr(flows)) < 1e-9
    np.testing.assert_allclose(res.line("revenue_eur")[0], [0, 4_380_000, 4_380_000, 4_380_000], rtol=1e-12)
    np.testing.assert_allclose(res.line("power_cost_eur")[0], [0, 438_000, 438_000, 438_000], rtol=1e-12)
    # all-equity: equity flow = project flow; partners split 60/40
    np.testing.assert_allclose(res.line("equity_cash_flow_eur")[0], flows, rtol=1e-12)
    alpha, beta = res.partners
    np.testing.assert_allclose(alpha["cash_flow_eur"][0], 0.6 * np.array(flows), rtol=1e-12)
    assert rel(float(alpha["contributions_eur"][0]), 0.6 * CAPEX) < 1e-12
    assert rel(float(beta["distributions_eur"][0]), 0.4 * 3 * EBITDA) < 1e-12
    # Beta's NPV at its own 15 %: 0.4 × Σ f_t / 1.15^(t+1)
    beta_npv = 0.4 * sum(f / 1.15 ** (t + 1) for t, f in enumerate(flows))
    assert rel(float(beta["npv_eur"][0]), beta_npv) < 1e-9
    assert rel(float(alpha["moic"][0]), 3 * EBITDA / CAPEX) < 1e-12
    # cumulative: -11.0, -7.058, -3.116, +0.826 (m) -> paid back in 2029
    assert k["payback_year"] == 2029
    assert rel(k["peak_equity_exposure_eur"], CAPEX) < 1e-12
    # LCOC = PV(capex + opex) / PV(GPU-hours), both at 10 %
    pv = lambda xs: sum(x / 1.1 ** (t + 1) for t, x in enumerate(xs))  # noqa: E731
    lcoc = (pv([CAPEX, 438_000, 438_000, 438_000])) / pv([0, 4_380_000, 4_380_000, 4_380_000])
    assert rel(k["lcoc_eur_per_gpu_hour"], lcoc) < 1e-12
    assert math.isnan(k["min_dscr"]) and math.isnan(k["llcr"])
    assert all(c["passed"] for c in res.checks)


def test_tiny_plant_with_an_annuity_tranche():
    res = engine.evaluate(tiny_case(ANNUITY_TRANCHE))
    k = {name: float(v[0]) for name, v in res.kpis.items()}
    debt = 0.5 * CAPEX  # drawn in 2026; no interest accrues on a zero opening balance
    payment = debt * RATE / (1 - 1.1**-3)  # = 2,211,631.42 (annuity formula)
    assert rel(payment, -npf.pmt(0.1, 3, debt)) < 1e-12
    equity = [-(CAPEX - debt)] + [EBITDA - payment] * 3
    assert rel(k["debt_eur"], debt) < 1e-12
    np.testing.assert_allclose(res.line("debt_service_eur")[0], [0, payment, payment, payment], rtol=1e-12)
    np.testing.assert_allclose(res.line("equity_cash_flow_eur")[0], equity, rtol=1e-12)
    # interest: 10 % of the opening balances 5.5m, 3,838,368.58, 2,010,574.02
    b1 = debt * 1.1 - payment
    b2 = b1 * 1.1 - payment
    np.testing.assert_allclose(res.line("interest_paid_eur")[0], [0, 0.1 * debt, 0.1 * b1, 0.1 * b2], rtol=1e-12)
    assert abs(res.line("debt_balance_eur")[0, -1]) < 1e-6
    assert rel(k["min_dscr"], EBITDA / payment) < 1e-12  # 1.7824 in every year
    assert rel(k["avg_dscr"], EBITDA / payment) < 1e-12
    # LLCR = PV at the loan rate of CFADS over the loan life / debt = 3 942 000 × a(3, 10 %) / 5.5m
    assert rel(k["llcr"], EBITDA * (1 - 1.1**-3) / 0.1 / debt) < 1e-12
    assert rel(k["equity_irr"], npf.irr(equity)) < 1e-9
    coe = 0.6 * 0.12 + 0.4 * 0.15
    assert rel(k["equity_npv_eur"], sum(f / (1 + coe) ** (t + 1) for t, f in enumerate(equity))) < 1e-9
    assert k["dscr_covenant_breach"] == 0.0
    for pt, share in zip(res.partners, (0.6, 0.4), strict=True):
        assert rel(float(pt["irr"][0]), npf.irr(equity)) < 1e-9
        assert rel(float(pt["contributions_eur"][0]), share * (CAPEX - debt)) < 1e-12
    assert all(c["passed"] for c in res.checks)


def test_debt_service_reserve_by_hand():
    # The tiny plant with the annuity tranche (EUR 5.5m at 10 % over 3 years, drawn in 2026)
    # and a DSRA of 6 months: debt service DS = 5,500,000 × 0.1 / (1 − 1.1^−3)
    # = 2,211,631.42 in 2027, 2028 and 2029, none after.
    # - target at the end of 2026 = 0.5 × DS_2027 = 1,105,815.71; end of 2027 = 0.5 × DS_2028
    #   and end of 2028 = 0.5 × DS_2029, both 1,105,815.71; end of 2029 (the last period,
    #   no debt service follows) = 0;
    # - funding = target_t − target_{t−1}: 1,105,815.71 in 2026, 0 in 2027 and 2028, and a
    #   release of 1,105,815.71 in 2029;
    # - 2026: partners pay in capex 11,000,000 − debt 5,500,000 + DSRA 1,105,815.71
    #   = 6,605,815.71;
    # - 2027, 2028: EBITDA 3,942,000 − DS 2,211,631.42 = 1,730,368.58 distributed (as
    #   without the DSRA); 2029: 1,730,368.58 + the release 1,105,815.71 = 2,836,184.29.
    res = engine.evaluate(tiny_case(ANNUITY_TRANCHE + "dsra_months = 6\n"))
    line = lambda name: res.line(name)[0]  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * CAPEX)  # noqa: E731
    debt = 0.5 * CAPEX
    payment = debt * RATE / (1 - 1.1**-3)
    reserve = 0.5 * payment
    assert rel(reserve, 1_105_815.71) < 1e-9
    close(line("debt_service_eur"), [0, payment, payment, payment])
    close(line("dsra_target_eur"), [reserve, reserve, reserve, 0])
    close(line("dsra_funding_eur"), [reserve, 0, 0, -reserve])
    surplus = EBITDA - payment
    assert rel(surplus, 1_730_368.58) < 1e-9
    equity = [-(CAPEX - debt + reserve), surplus, surplus, surplus + reserve]
    assert rel(-equity[0], 6_605_815.71) < 1e-9 and rel(equity[3], 2_836_184.29) < 1e-9
    close(line("net_cash_to_equity_eur"), equity)
    close(line("equity_cash_flow_eur"), equity)
    close(line("equity_contributions_eur"), [CAPEX - debt + reserve, 0, 0, 0])
    close(line("equity_calls_eur"), [0, 0, 0, 0])
    close(line("distributions_eur"), [0, *equity[1:]])
    for pt, share in zip(res.partners, (0.6, 0.4), strict=True):
        assert rel(float(pt["contributions_eur"][0]), share * (CAPEX - debt + reserve)) < 1e-9
        assert rel(float(pt["distributions_eur"][0]), share * (3 * surplus + reserve)) < 1e-9
    assert rel(float(res.kpis["equity_irr"][0]), npf.irr(equity)) < 1e-9
    assert {c["name"]: c["passed"] for c in res.checks} == dict.fromkeys(
        ("sources_equal_uses", "debt_balance_non_negative", "debt_repaid_by_maturity", "partner_flows_sum_to_equity",
         "cash_never_negative", "dsra_at_target", "grants_within_caps"), True)
    # the project view, the DSCR and the LLCR do not move; without a reserve nothing is held
    plain = engine.evaluate(tiny_case(ANNUITY_TRANCHE))
    for name in ("project_cash_flow_eur", "cfads_eur", "dscr"):
        close(line(name)[1:], plain.line(name)[0][1:])
    for kpi in ("project_npv_eur", "min_dscr", "llcr"):
        assert float(res.kpis[kpi][0]) == float(plain.kpis[kpi][0])
    close(plain.line("dsra_target_eur")[0], [0, 0, 0, 0])
    close(plain.line("dsra_funding_eur")[0], [0, 0, 0, 0])


def test_lockup_account_by_hand():
    # net cash to equity 5, −2, −4, 3, 1 with the lock-up on in the first three periods:
    # 5 is retained (balance 5); −2 is covered from the account (balance 3); −4 takes the
    # remaining 3 and partners are called for 1 (balance 0); the lock-up lifts with an empty
    # account, so 3 and 1 are distributed.
    net = np.array([[5.0, -2.0, -4.0, 3.0, 1.0]])
    retained, released, balance = engine.lockup_account(net, np.array([[True, True, True, False, False]]))
    np.testing.assert_array_equal(retained[0], [5, 0, 0, 0, 0])
    np.testing.assert_array_equal(released[0], [0, 2, 3, 0, 0])
    np.testing.assert_array_equal(balance[0], [5, 3, 0, 0, 0])
    np.testing.assert_array_equal((net + released - retained)[0], [0, 0, -1, 3, 1])
    # locked only in the first period: the whole 5 is released with the −2 of the next one
    retained, released, balance = engine.lockup_account(net, np.array([[True, False, False, False, False]]))
    np.testing.assert_array_equal(released[0], [0, 5, 0, 0, 0])
    np.testing.assert_array_equal((net + released - retained)[0], [0, 3, -4, 3, 1])


LOCKUP_CUSTOMERS = """
[[customers]]
name = "First anchor"
gpus = 500
price_eur_per_gpu_hour = 2.0
first_operating_year = 1
years = 1

[[customers]]
name = "Second anchor"
gpus = 500
price_eur_per_gpu_hour = 2.0
first_operating_year = 3
years = 2
"""


def test_distributions_are_locked_up_while_the_dscr_is_below_the_lockup_ratio():
    # The tiny plant over 4 operating years (periods 0-4, 2026-2030) with the annuity
    # tranche (EUR 5.5m at 10 % over 3 years: debt service 2,211,631.42 in 2027-2029) and
    # a lock-up at DSCR 2.0. An anchor takes 500 GPUs at EUR 2 in operating year 1, another
    # from year 3 on; year 2 (2028) has none.
    # - with an anchor: anchor 500 × 8,760 × 2 = 8,760,000 + market 500 × 8,760 × 0.5 × 1
    #   = 2,190,000 → revenue 10,950,000; sold 4,380,000 + 2,190,000 = 6,570,000 GPU-h,
    #   utilization 0.75, power 1,000 × 1 kW × 0.75 × 8,760 / 1,000 = 6,570 MWh × 100
    #   = 657,000; EBITDA = CFADS (no tax) = 10,293,000; DSCR 4.65;
    # - 2028 without an anchor: EBITDA 3,942,000, DSCR 3,942,000 / 2,211,631.42 = 1.78 < 2.0:
    #   locked; the surplus 3,942,000 − 2,211,631.42 = 1,730,368.58 is retained;
    # - 2029: DSCR 4.65 ≥ 2.0, the account is released: 10,293,000 − 2,211,631.42
    #   = 8,081,368.58 + 1,730,368.58 = 9,811,737.16 is distributed;
    # - 2030: no debt service, 10,293,000 distributed; 2026: partners pay in 5,500,000.
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 4")
    extra = ANNUITY_TRANCHE + "lockup_dscr = 2.0\n" + LOCKUP_CUSTOMERS
    res = engine.evaluate(assumptions.loads((text + extra).encode(), "tiny.toml"))
    line = lambda name: res.line(name)[0]  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * CAPEX)  # noqa: E731
    payment = 5_500_000 * RATE / (1 - 1.1**-3)
    strong, weak = 10_293_000.0, EBITDA
    close(line("cfads_eur"), [0, strong, weak, strong, strong])
    close(line("debt_service_eur"), [0, payment, payment, payment, 0])
    close(line("net_cash_to_equity_eur"), [-5_500_000, strong - payment, weak - payment, strong - payment, strong])
    close(line("lockup_ratio"), [0, 2, 2, 2, 0])
    close(line("lockup_flag"), [0, 0, 1, 0, 0])
    close(line("lockup_retained_eur"), [0, 0, weak - payment, 0, 0])
    close(line("lockup_released_eur"), [0, 0, 0, weak - payment, 0])
    close(line("lockup_balance_eur"), [0, 0, weak - payment, 0, 0])
    assert rel(weak - payment, 1_730_368.58) < 1e-9
    equity = [-5_500_000, strong - payment, 0, strong - payment + weak - payment, strong]
    assert rel(equity[3], 9_811_737.16) < 1e-9
    close(line("distributions_eur"), [0, *equity[1:]])
    close(line("equity_contributions_eur"), [5_500_000, 0, 0, 0, 0])
    close(line("equity_calls_eur"), [0, 0, 0, 0, 0])
    close(line("equity_cash_flow_eur"), equity)
    assert rel(float(res.kpis["equity_irr"][0]), npf.irr(equity)) < 1e-9
    assert res.kpis["lockup_years"][0] == 1.0
    assert all(c["passed"] for c in res.checks)
    # without the lock-up the 2028 surplus is paid out at once; the project flows do not move
    free = engine.evaluate(assumptions.loads((text + ANNUITY_TRANCHE + LOCKUP_CUSTOMERS).encode(), "tiny.toml"))
    close(free.line("equity_cash_flow_eur")[0], [-5_500_000, strong - payment, weak - payment, strong - payment, strong])
    close(free.line("project_cash_flow_eur")[0], line("project_cash_flow_eur"))
    assert free.kpis["lockup_years"][0] == 0.0


def test_a_shortfall_is_covered_from_the_lockup_account_before_partners_are_called():
    # The plant of the test above with a lock-up at DSCR 5.0 and a compute life of 2 years:
    # the cohort live from 2027 is replaced by one bought in 2028 for 1,000 × 10,000
    # = 10,000,000 (no resale, no tax).
    # - 2027: DSCR 4.65 < 5.0, locked: 10,293,000 − 2,211,631.42 = 8,081,368.58 retained;
    # - 2028: DSCR 1.78, locked: net = 3,942,000 − 2,211,631.42 − 10,000,000
    #   = −8,269,631.42; the account pays 8,081,368.58 of it and partners are called for
    #   8,269,631.42 − 8,081,368.58 = 188,262.84;
    # - 2029: DSCR 4.65, locked again: 8,081,368.58 retained;
    # - 2030: no debt service (and the last period): released and distributed with
    #   10,293,000, i.e. 18,374,368.58.
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 4")
    extra = ANNUITY_TRANCHE + "lockup_dscr = 5.0\n" + LOCKUP_CUSTOMERS
    case = assumptions.loads((text + extra).encode(), "tiny.toml").with_values({"capex.compute_life_years": 2})
    res = engine.evaluate(case)
    line = lambda name: res.line(name)[0]  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * CAPEX)  # noqa: E731
    payment = 5_500_000 * RATE / (1 - 1.1**-3)
    strong, weak = 10_293_000.0, EBITDA
    close(line("refresh_capex_eur"), [0, 0, 10_000_000, 0, 0])
    close(line("lockup_flag"), [0, 1, 1, 1, 0])
    close(line("lockup_retained_eur"), [0, strong - payment, 0, strong - payment, 0])
    close(line("lockup_released_eur"), [0, 0, strong - payment, 0, strong - payment])
    close(line("lockup_balance_eur"), [0, strong - payment, 0, strong - payment, 0])
    call = (10_000_000 - (weak - payment)) - (strong - payment)
    assert rel(call, 188_262.84) < 1e-9
    close(line("equity_calls_eur"), [0, 0, call, 0, 0])
    close(line("distributions_eur"), [0, 0, 0, 0, strong + strong - payment])
    assert rel(strong + strong - payment, 18_374_368.58) < 1e-9
    assert res.kpis["lockup_years"][0] == 2.0
    assert all(c["passed"] for c in res.checks)


def test_tiny_plant_with_tax_and_depreciation():
    res = engine.evaluate(tiny_case(**{"tax.rate": 0.30}))
    k = {name: float(v[0]) for name, v in res.kpis.items()}
    # depreciation: facility 1,000,000 / 4 y + compute 10,000,000 / 10 y = 1,250,000 a year
    taxable = EBITDA - 1_250_000
    tax = 0.30 * taxable  # = 807,600
    flows = [-CAPEX] + [EBITDA - tax] * 3
    np.testing.assert_allclose(res.line("tax_eur")[0], [0, tax, tax, tax], rtol=1e-12)
    assert rel(k["project_npv_eur"], sum(f / 1.1 ** (t + 1) for t, f in enumerate(flows))) < 1e-9
    assert rel(k["project_irr"], npf.irr(flows)) < 1e-9
    assert rel(k["equity_irr"], npf.irr(flows)) < 1e-9


def test_interest_during_construction_is_depreciated_in_the_levered_tax_by_hand():
    # The tiny plant built over 2 years (facility spend 50/50 in 2026 and 2027, compute paid
    # in 2027, live 2028-2030) with the annuity tranche (gearing 0.5, 10 %, 3 years) and
    # tax 30 %; no grants, no fees, no residual value.
    # - initial capex: 2026 500,000; 2027 500,000 + 10,000,000 = 10,500,000; drawn at 0.5:
    #   250,000 and 5,250,000;
    # - IDC: 2026 nothing (opening balance 0); 2027 10 % × 250,000 = 25,000 capitalised;
    #   the balance at the first repayment is 250,000 + 25,000 + 5,250,000 = 5,525,000;
    # - annuity: 5,525,000 × 0.1 / (1 − 1.1^−3) = 2,221,684.29; interest paid 10 % of the
    #   opening balances 5,525,000, b1 = 1.1 × 5,525,000 − P, b2 = 1.1 × b1 − P;
    # - IDC depreciation with the facility (life 4 years from go-live): 25,000 / 4 = 6,250
    #   in 2028, 2029 and 2030;
    # - EBIT = EBITDA 3,942,000 − depreciation (1,000,000 / 4 + 10,000,000 / 10) = 2,692,000;
    #   EBT = EBIT − interest − 6,250: 2028 2,692,000 − 552,500 − 6,250 = 2,133,250, tax
    #   639,975 (without IDC depreciation 641,850: 0.3 × 6,250 = 1,875 less each year);
    # - equity: −250,000, −5,250,000, then EBITDA − tax − P (2028: 1,080,340.71).
    text = TINY.read_text().replace("construction_years = 1", "construction_years = 2").replace("spend_profile = [1.0]", "spend_profile = [0.5, 0.5]")
    case = assumptions.loads((text + ANNUITY_TRANCHE).encode(), "tiny.toml").with_values({"tax.rate": 0.3})
    res = engine.evaluate(case)
    line = lambda name: res.line(name)[0]  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * CAPEX)  # noqa: E731
    idc = RATE * 250_000
    balance = 250_000 + idc + 5_250_000
    payment = balance * RATE / (1 - 1.1**-3)
    assert rel(payment, 2_221_684.29) < 1e-9
    b1 = balance * 1.1 - payment
    b2 = b1 * 1.1 - payment
    interest = [RATE * balance, RATE * b1, RATE * b2]
    ebit = EBITDA - 1_250_000
    dep = idc / 4
    tax = [0.3 * (ebit - i - dep) for i in interest]
    assert rel(tax[0], 639_975) < 1e-12
    equity = [-250_000, -5_250_000] + [EBITDA - x - payment for x in tax]
    assert rel(equity[2], 1_080_340.71) < 1e-9
    close(line("debt_drawdown_eur"), [250_000, 5_250_000, 0, 0, 0])
    close(line("interest_capitalised_eur"), [0, idc, 0, 0, 0])
    close(line("interest_paid_eur"), [0, 0, *interest])
    close(line("idc_depreciation_eur"), [0, 0, dep, dep, dep])
    close(line("ebit_eur"), [0, 0, ebit, ebit, ebit])
    close(line("ebt_eur"), [0, 0] + [ebit - i - dep for i in interest])
    close(line("tax_eur"), [0, 0, *tax])
    close(line("unlevered_tax_eur"), [0, 0] + [0.3 * ebit] * 3)
    close(line("equity_cash_flow_eur"), equity)
    assert rel(float(res.kpis["equity_irr"][0]), npf.irr(equity)) < 1e-9
    assert all(c["passed"] for c in res.checks)
    # switched off: no IDC depreciation, 1,875 more tax a year, the old numbers exactly;
    # the project view (unlevered tax, terminal value) does not move either way
    off = engine.evaluate(case.with_values({"tax.capitalise_construction_interest": False}))
    close(off.line("idc_depreciation_eur")[0], [0, 0, 0, 0, 0])
    close(off.line("tax_eur")[0] - line("tax_eur"), [0, 0, 1_875, 1_875, 1_875])
    close(off.line("tax_eur")[0], [0, 0] + [0.3 * (ebit - i) for i in interest])
    np.testing.assert_array_equal(off.line("ebt_eur")[0], line("ebit_eur") - line("interest_paid_eur") - line("debt_fees_eur"))
    with_residual = {"capex.residual_value_share": 0.5}
    on_tv = engine.evaluate(case.with_values(with_residual))
    off_tv = engine.evaluate(case.with_values({**with_residual, "tax.capitalise_construction_interest": False}))
    assert on_tv.line("terminal_value_eur")[0, -1] > 0
    for name in ("terminal_value_eur", "unlevered_tax_eur", "project_cash_flow_eur"):
        np.testing.assert_array_equal(on_tv.line(name), off_tv.line(name))
    assert float(on_tv.kpis["project_npv_eur"][0]) == float(off_tv.kpis["project_npv_eur"][0])


def test_resale_of_a_retired_cohort_by_hand():
    # The tiny plant over 4 operating years (periods 0-4, 2026-2030) at EUR 2/GPU-hour, a
    # 2-year compute life, 25 % resale, tax 30 %, no debt, no grants, no residual value.
    # Purchases of the one cohort (live from period 1): paid in 0 and, as a refresh, in
    # 2 (live 3-4); the next refresh would go live in 5, beyond the horizon.
    # - refresh capex in 2028 (period 2): 1,000 × 10,000 × (1 + 0)^2 = 10,000,000;
    # - resale at the end of 2028: the generation paid in 2026 (10,000,000) is sold for
    #   0.25 × 10,000,000 = 2,500,000;
    # - EBITDA each operating year: revenue 4,380,000 GPU-h × 2 = 8,760,000 − power 438,000
    #   = 8,322,000;
    # - depreciation each operating year: facility 1,000,000 / 4 = 250,000 + compute
    #   10,000,000 / 2 = 5,000,000 (first generation in 1-2, refresh in 3-4) = 5,250,000;
    #   the first generation's book value at the sale is 0, so the whole 2,500,000 is gain;
    # - EBIT: 8,322,000 − 5,250,000 = 3,072,000, in 2028 + 2,500,000 = 5,572,000;
    # - tax: 0.3 × 3,072,000 = 921,600, in 2028 0.3 × 5,572,000 = 1,671,600 (resale adds
    #   0.3 × 2,500,000 = 750,000);
    # - project cash flow: 2026 −11,000,000; 2027, 2029, 2030 8,322,000 − 921,600 = 7,400,400;
    #   2028 8,322,000 − 10,000,000 − 1,671,600 + 2,500,000 = −849,600 (an equity call);
    # - sources = uses in 2028: CFADS 8,322,000 − 1,671,600 = 6,650,400 + resale 2,500,000
    #   + equity call 849,600 = capex 10,000,000.
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 4")
    case = assumptions.loads(text.encode(), "tiny.toml").with_values({
        "revenue.launch_price_eur_per_gpu_hour": 2.0, "capex.compute_life_years": 2,
        "capex.compute_resale_share": 0.25, "tax.rate": 0.3,
    })
    res = engine.evaluate(case)
    line = lambda name: res.line(name)[0]  # noqa: E731
    close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * CAPEX)  # noqa: E731
    close(line("refresh_capex_eur"), [0, 0, 10_000_000, 0, 0])
    close(line("compute_resale_eur"), [0, 0, 2_500_000, 0, 0])
    close(line("ebitda_eur"), [0, 8_322_000, 8_322_000, 8_322_000, 8_322_000])
    close(line("depreciation_eur"), [0, 5_250_000, 5_250_000, 5_250_000, 5_250_000])
    close(line("ebit_eur"), [0, 3_072_000, 5_572_000, 3_072_000, 3_072_000])
    close(line("ebt_eur"), [0, 3_072_000, 5_572_000, 3_072_000, 3_072_000])
    close(line("tax_eur"), [0, 921_600, 1_671_600, 921_600, 921_600])
    close(line("unlevered_tax_eur"), [0, 921_600, 1_671_600, 921_600, 921_600])
    close(line("cfads_eur"), [0, 7_400_400, 6_650_400, 7_400_400, 7_400_400])
    flows = [-CAPEX, 7_400_400, -849_600, 7_400_400, 7_400_400]
    close(line("project_cash_flow_eur"), flows)
    close(line("equity_cash_flow_eur"), flows)
    close(line("equity_calls_eur"), [0, 0, 849_600, 0, 0])
    close(line("terminal_value_eur"), [0, 0, 0, 0, 0])
    npv = sum(f / 1.1 ** (t + 1) for t, f in enumerate(flows))
    assert rel(float(res.kpis["project_npv_eur"][0]), npv) < 1e-9
    # without resale 2028 loses the proceeds and the tax on them: 2,500,000 × (1 − 0.3)
    plain = engine.evaluate(case.with_values({"capex.compute_resale_share": 0.0}))
    close(line("project_cash_flow_eur") - plain.line("project_cash_flow_eur")[0], [0, 0, 1_750_000, 0, 0])
    assert all(c["passed"] for c in res.checks)


def _tax_unlimited(profit, rate):
    """The unlimited carry-forward as it stood before minimum taxation (the reference)."""
    s = np.cumsum(-profit, axis=-1)
    pool = s - np.minimum(np.minimum.accumulate(s, axis=-1), 0.0)
    opening = np.concatenate([np.zeros_like(pool[..., :1]), pool[..., :-1]], axis=-1)
    return rate * np.maximum(profit - opening, 0.0), pool


def test_losses_are_carried_forward():
    res = engine.evaluate(tiny_case(**{"tax.rate": 0.25}))
    ebt = np.array([-5.0, 2.0, 1.0, 4.0])
    tax, pool, offset = engine._tax(ebt[None, :], 0.25, True)
    # pool: 5, 3, 2, 0; offset 0, 2, 1, 2; taxable: 0, 0, 0, 4 - 2 = 2
    np.testing.assert_allclose(pool[0], [5, 3, 2, 0])
    np.testing.assert_allclose(offset[0], [0, 2, 1, 2])
    np.testing.assert_allclose(tax[0], [0, 0, 0, 0.5])
    tax_nocf, pool_nocf, offset_nocf = engine._tax(ebt[None, :], 0.25, False)
    np.testing.assert_allclose(tax_nocf[0], [0, 0.5, 0.25, 1.0])
    assert not pool_nocf.any() and not offset_nocf.any()
    assert all(c["passed"] for c in res.checks)


def test_minimum_taxation_by_hand():
    # Profits −5, 2, 3, 4 (EUR m); losses offset in full up to 1 m a year and 60 % above it;
    # rate 25 %. allowance = min(profit, 1) + 0.6 × max(profit − 1, 0):
    #   t0: loss 5            -> offset 0,                         taxable 0,   pool 5
    #   t1: allowance 1 + 0.6 × 1 = 1.6 -> offset min(5, 1.6) = 1.6,   taxable 0.4, pool 3.4
    #   t2: allowance 1 + 0.6 × 2 = 2.2 -> offset min(3.4, 2.2) = 2.2, taxable 0.8, pool 1.2
    #   t3: allowance 1 + 0.6 × 3 = 2.8 -> offset min(1.2, 2.8) = 1.2, taxable 2.8, pool 0
    # Tax 0, 0.1, 0.2, 0.7 = 1.0 in all, as without the limit (0, 0, 0, 1.0): only later.
    m = 1e6
    ebt = np.array([[-5.0, 2.0, 3.0, 4.0]]) * m
    tax, pool, offset = engine._tax(ebt, 0.25, True, 1.0 * m, 0.6)
    np.testing.assert_allclose(offset[0], np.array([0, 1.6, 2.2, 1.2]) * m, rtol=1e-12)
    np.testing.assert_allclose(pool[0], np.array([5, 3.4, 1.2, 0]) * m, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(tax[0], np.array([0, 0.1, 0.2, 0.7]) * m, rtol=1e-12)
    unlimited, _, _ = engine._tax(ebt, 0.25, True)
    np.testing.assert_allclose(unlimited[0], np.array([0, 0, 0, 1.0]) * m, rtol=1e-12)
    # per-path limits of shape (n_paths, 1) broadcast against a (1, T) profit line:
    # path 0 as above, path 1 unlimited (share 1), path 2 nothing offset above 0 (share 0)
    tax3, pool3, _ = engine._tax(ebt, 0.25, True, np.array([[1.0], [1.0], [0.0]]) * m, np.array([[0.6], [1.0], [0.0]]))
    assert tax3.shape == (3, 4)
    np.testing.assert_allclose(tax3[:2], np.vstack([tax, unlimited]), rtol=1e-12)
    np.testing.assert_allclose(tax3[2], 0.25 * np.maximum(ebt[0], 0.0), rtol=1e-12)
    np.testing.assert_allclose(pool3[2], [5 * m] * 4, rtol=1e-12)


def test_unlimited_offset_is_the_old_carry_forward_exactly():
    # with share 1, or a threshold above every profit, the allowance is the profit itself
    # and the result equals the unlimited carry-forward bit for bit
    rng = np.random.default_rng(7)
    profit = rng.normal(0.0, 1e8, (200, 25)) * (rng.random((200, 25)) < 0.9)
    old_tax, old_pool = _tax_unlimited(profit, 0.3)
    for threshold, share in ((np.inf, 1.0), (1e15, 1.0), (1e15, 0.6), (1e6, 1.0), (0.0, 1.0)):
        tax, pool, _ = engine._tax(profit, 0.3, True, threshold, share)
        if threshold >= 1e15:
            assert np.array_equal(tax, old_tax) and np.array_equal(pool, old_pool), (threshold, share)
        else:  # share 1 with a binding threshold: threshold + (profit − threshold), within rounding
            np.testing.assert_allclose(tax, old_tax, rtol=1e-12, atol=1e-6)
            np.testing.assert_allclose(pool, old_pool, rtol=1e-12, atol=1e-6)


def test_minimum_taxation_defers_tax_on_the_tiny_plant():
    # The tiny plant with a facility of EUR 3m depreciated in one year and (almost) no sales
    # in operating year 1 (logistic ramp from 0 with midpoint 1.5 and steepness 50: 0.5 /
    # (1 + e^25) ≈ 7e-12 utilization), tax 30 %, losses offset in full up to EUR 1m, 60 % above:
    # - EBIT: 2027 −3,000,000 − 1,000,000 (compute) = −4,000,000; 2028 and 2029
    #   EBITDA 3,942,000 − 1,000,000 = 2,942,000 (no debt: EBT = EBIT);
    # - 2028: allowance 1,000,000 + 0.6 × 1,942,000 = 2,165,200 < min(4,000,000, 2,942,000),
    #   so the limit binds: taxable 776,800, tax 233,040, pool 1,834,800;
    # - 2029: offset 1,834,800 (the rest), taxable 1,107,200, tax 332,160, pool 0.
    # Without the limit: 2028 no tax (pool 1,058,000), 2029 tax 0.3 × 1,884,000 = 565,200.
    ramp = {"capex.facility_eur_per_mw": 3_000_000, "capex.facility_life_years": 1, "utilization.start": 0.0,
            "utilization.midpoint_year": 1.5, "utilization.steepness": 50.0, "tax.rate": 0.3}
    limited = engine.evaluate(tiny_case(**ramp, **{"tax.loss_offset_threshold_eur": 1e6, "tax.loss_offset_share_above_threshold": 0.6}))
    free = engine.evaluate(tiny_case(**ramp))
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-3)  # noqa: E731
    close(limited.line("ebt_eur")[0], [0, -4_000_000, 2_942_000, 2_942_000])
    close(limited.line("tax_loss_offset_eur")[0], [0, 0, 2_165_200, 1_834_800])
    close(limited.line("tax_loss_pool_eur")[0], [0, 4_000_000, 1_834_800, 0])
    close(limited.line("tax_eur")[0], [0, 0, 233_040, 332_160])
    close(limited.line("unlevered_tax_eur")[0], [0, 0, 233_040, 332_160])
    close(free.line("tax_eur")[0], [0, 0, 0, 565_200])
    close(free.line("tax_loss_pool_eur")[0], [0, 4_000_000, 1_058_000, 0])
    # the same tax in total, paid earlier: the NPV falls
    assert float(limited.kpis["project_npv_eur"][0]) < float(free.kpis["project_npv_eur"][0])
    assert all(c["passed"] for c in limited.checks)


def test_mid_year_discounting_shifts_by_half_a_year():
    end = engine.evaluate(tiny_case())
    mid = engine.evaluate(tiny_case(**{"project.discounting": "mid"}))
    assert rel(float(mid.kpis["project_npv_eur"][0]), float(end.kpis["project_npv_eur"][0]) * 1.1**0.5) < 1e-12


def test_paths_are_independent_and_match_single_runs(default_case):
    base = engine.evaluate(default_case)
    prices = np.array([2.0, 2.6, 3.2])
    many = engine.evaluate(default_case, {"revenue.launch_price_eur_per_gpu_hour": prices}, debt=base.debt)
    for i, price in enumerate(prices):
        one = engine.evaluate(default_case, {"revenue.launch_price_eur_per_gpu_hour": prices[i:i + 1]}, debt=base.debt)
        for name in ("project_npv_eur", "equity_npv_eur", "min_dscr"):
            assert rel(float(many.kpis[name][i]), float(one.kpis[name][0])) < 1e-12, (name, price)
    assert float(many.kpis["project_npv_eur"][1]) == pytest.approx(float(base.kpis["project_npv_eur"][0]), rel=1e-12)


def test_default_case_passes_every_check(default_case):
    res = engine.evaluate(default_case)
    failed = [c for c in res.checks if not c["passed"]]
    assert not failed
    capex = float(res.kpis["total_capex_eur"][0])
    assert 5.0e9 <= capex <= 6.0e9  # the range the bids talk about


def test_debt_is_held_fixed_across_paths(default_case):
    base = engine.evaluate(default_case)
    res = engine.evaluate(default_case, {"capex.overrun": np.array([0.0, 0.3])}, debt=base.debt)
    np.testing.assert_array_equal(res.line("debt_drawdown_eur")[0], res.line("debt_drawdown_eur")[1])
    eq = res.kpis["equity_eur"]
    assert eq[1] > eq[0]  # the overrun is funded by equity
    with pytest.raises(ValueError):
        engine.evaluate(default_case, {"capex.overrun": np.array([0.0, 0.3])})
