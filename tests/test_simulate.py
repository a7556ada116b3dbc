"""Monte Carlo (bizcase.simulate) against exact results, and its reproducibility rules.

Exact reference for the tiny plant (tests/data/tiny.toml; no tax, debt, grants or refresh):
- capex EUR 11,000,000 in period 0 (2026), discounted one year: 11,000,000 / 1.1;
- each operating year (2027–2029) sells 1,000 × 8,760 × 0.5 = 4,380,000 GPU-hours at the
  launch price p and buys 4,380 MWh at EUR 100 (EUR 438,000);
- so, valued at 1 Jan 2026 with year-end flows,
  NPV(p) = −11,000,000 / 1.1 + (4,380,000 p − 438,000) × A,  A = 1.1^-2 + 1.1^-3 + 1.1^-4,
  which is linear in p. With p ~ Uniform(low, high): mean NPV = NPV((low + high) / 2), the
  q-quantile of NPV is NPV(low + q (high − low)) (NPV increases with p), and
  P(NPV < 0) = (p* − low) / (high − low) with p* = (10,000,000 / A + 438,000) / 4,380,000.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading

import numpy as np
import numpy_financial as npf
import pytest
from scipy import stats as scipy_stats

from bizcase import assumptions, engine, finance, pipeline, results, simulate
from bizcase.errors import AssumptionError
from tests.conftest import ANNUITY_TRANCHE, tiny_case

LOW, HIGH = 0.8, 1.6
A = 1.1**-2 + 1.1**-3 + 1.1**-4


def tiny_npv(price: float | np.ndarray) -> float | np.ndarray:
    return -11_000_000 / 1.1 + (4_380_000 * price - 438_000) * A


def with_uncertainty(case: assumptions.Case, **section: object) -> assumptions.Case:
    """The case with its [uncertainty] keys replaced (the loader's defaults kept otherwise)."""
    data = copy.deepcopy(case.data)
    data["uncertainty"].update(copy.deepcopy(section))
    return dataclasses.replace(case, data=data)


def uniform_price_case() -> assumptions.Case:
    return with_uncertainty(
        tiny_case(),
        variables={"revenue.launch_price_eur_per_gpu_hour": {"dist": "uniform", "low": LOW, "high": HIGH}},
    )


def summary_json(mc: simulate.MonteCarloResult) -> str:
    return json.dumps(results.clean(mc.summary), sort_keys=True, allow_nan=False)


# --- exact results ---------------------------------------------------------------------


def test_tiny_map_is_the_engine():
    # the closed form above is the engine's NPV at two prices (so the map is linear and known)
    for price in (LOW, HIGH):
        case = tiny_case(**{"revenue.launch_price_eur_per_gpu_hour": price})
        assert float(engine.evaluate(case).kpis["project_npv_eur"][0]) == pytest.approx(tiny_npv(price), rel=1e-12)


@pytest.mark.parametrize("sampling", ["lhs", "sobol"])
def test_linear_npv_of_a_uniform_price_matches_the_exact_distribution(sampling):
    n = 20_000
    mc = simulate.run(uniform_price_case(), n, seed=11, sampling=sampling)
    npv = mc.summary["kpis"]["project_npv_eur"]
    npv_range = tiny_npv(HIGH) - tiny_npv(LOW)
    tolerance = 0.005 * npv_range
    assert npv["mean"] == pytest.approx(tiny_npv((LOW + HIGH) / 2), abs=tolerance)
    for q in simulate.PERCENTILES:
        exact = tiny_npv(LOW + q / 100 * (HIGH - LOW))
        assert npv[f"p{q}"] == pytest.approx(exact, abs=tolerance), q
    # sd of a uniform: range / sqrt(12)
    assert npv["sd"] == pytest.approx(npv_range / np.sqrt(12), rel=0.01)
    breakeven = (10_000_000 / A + 438_000) / 4_380_000
    exact_probability = (breakeven - LOW) / (HIGH - LOW)
    assert mc.summary["prob_project_npv_negative"] == pytest.approx(exact_probability, abs=0.002)
    # every path on the line: NPV = NPV(sampled price)
    np.testing.assert_allclose(mc.kpis["project_npv_eur"], tiny_npv(mc.inputs[:, 0]), rtol=1e-9, atol=1e-3)
    # no debt: no covenant to breach
    assert np.isnan(mc.summary["prob_dscr_covenant_breach"])


def test_plain_random_sampling_is_within_its_sampling_error():
    # i.i.d. draws: a share has sd sqrt(p (1 - p) / n); a q-quantile of a uniform has sd
    # sqrt(q (1 - q) / n) of the range. 4 sd bounds (0.006 % chance of a false alarm each).
    n = 20_000
    mc = simulate.run(uniform_price_case(), n, seed=11, sampling="random")
    npv = mc.summary["kpis"]["project_npv_eur"]
    npv_range = tiny_npv(HIGH) - tiny_npv(LOW)
    for q in simulate.PERCENTILES:
        exact = tiny_npv(LOW + q / 100 * (HIGH - LOW))
        assert npv[f"p{q}"] == pytest.approx(exact, abs=4 * np.sqrt(q / 100 * (1 - q / 100) / n) * npv_range)
    p = ((10_000_000 / A + 438_000) / 4_380_000 - LOW) / (HIGH - LOW)
    assert mc.summary["prob_project_npv_negative"] == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))


def test_zero_spread_gives_the_base_case_on_every_path(default_case):
    base = engine.evaluate(default_case)
    point = {
        path: {"dist": "triangular", "low": value, "mode": value, "high": value}
        for path in default_case.data["uncertainty"]["variables"]
        for value in [default_case.get(path)]
    }
    point["capex.compute_eur_per_gpu"] = {"dist": "fixed", "value": default_case.get("capex.compute_eur_per_gpu")}
    case = with_uncertainty(
        default_case,
        variables=point,
        correlation={"pairs": []},
        processes={"utilization_noise": {"sd": 0.0, "autocorrelation": 0.5}, "power_price": {"sigma": 0.0, "reversion": 0.3}},
    )
    mc = simulate.run(case, 3_000, seed=5, base=base)
    for name, values in mc.kpis.items():
        expected = float(base.kpis[name][0])
        # IRRs included: finance.irr solves each path as if it were alone
        np.testing.assert_array_equal(values, np.full_like(values, expected), err_msg=name)
    for i, partner in enumerate(base.partners):
        np.testing.assert_array_equal(mc.partner_npv_eur[i], float(partner["npv_eur"][0]))
    assert mc.summary["kpis"]["project_npv_eur"]["sd"] == 0.0


# --- reproducibility -------------------------------------------------------------------


def test_same_seed_same_summary_other_seed_other(default_case):
    base = engine.evaluate(default_case)
    first = simulate.run(default_case, 3_000, seed=42, base=base)
    again = simulate.run(default_case, 3_000, seed=42, base=base)
    other = simulate.run(default_case, 3_000, seed=43, base=base)
    assert summary_json(first) == summary_json(again)
    assert summary_json(first) != summary_json(other)
    assert first.summary["kpis"]["project_npv_eur"]["mean"] != other.summary["kpis"]["project_npv_eur"]["mean"]


def test_chunk_size_and_threads_do_not_change_the_result(default_case):
    base = engine.evaluate(default_case)
    n = 2 * simulate.BLOCK_SIZE + 1_000  # three blocks, the last one short
    runs = [
        simulate.run(default_case, n, seed=9, base=base, chunk_size=1, workers=1),
        simulate.run(default_case, n, seed=9, base=base, chunk_size=simulate.BLOCK_SIZE, workers=2),
        simulate.run(default_case, n, seed=9, base=base, chunk_size=10 * simulate.BLOCK_SIZE, workers=2),
    ]
    reference = runs[0]
    for other in runs[1:]:
        for name in reference.kpis:
            np.testing.assert_array_equal(reference.kpis[name], other.kpis[name], err_msg=name)
        np.testing.assert_array_equal(reference.inputs, other.inputs)
        assert summary_json(reference) == summary_json(other)


def test_first_paths_do_not_depend_on_the_number_of_paths(default_case):
    # block b draws from SeedSequence(seed).spawn(...)[b] only: a longer run extends a shorter one
    short = simulate.run(default_case, simulate.BLOCK_SIZE, seed=3)
    longer = simulate.run(default_case, simulate.BLOCK_SIZE + 500, seed=3)
    np.testing.assert_array_equal(short.inputs, longer.inputs[: simulate.BLOCK_SIZE])


def test_evaluate_paths_are_the_runs_paths(default_case):
    mc = simulate.run(default_case, 1_500, seed=8)
    paths = simulate.evaluate_paths(default_case, 1_500, seed=8)
    np.testing.assert_array_equal(paths.kpis["project_npv_eur"], mc.kpis["project_npv_eur"])
    assert all(check["passed"] for check in paths.checks), paths.checks


# --- correlation, debt, covenants ------------------------------------------------------


@pytest.mark.parametrize("sampling", ["lhs", "sobol", "random"])
def test_achieved_rank_correlation_is_the_target(default_case, sampling):
    case = with_uncertainty(default_case, correlation={"pairs": [
        ["utilization.plateau", "revenue.price_decline", -0.4],
        ["revenue.launch_price_eur_per_gpu_hour", "opex.power_price_eur_per_mwh", 0.7],
    ]})
    mc = simulate.run(case, 10_000, seed=17, sampling=sampling)
    column = {name: i for i, name in enumerate(mc.input_names)}

    def spearman(a: str, b: str) -> float:
        return float(scipy_stats.spearmanr(mc.inputs[:, column[a]], mc.inputs[:, column[b]])[0])

    assert spearman("utilization.plateau", "revenue.price_decline") == pytest.approx(-0.4, abs=0.02)
    assert spearman("revenue.launch_price_eur_per_gpu_hour", "opex.power_price_eur_per_mwh") == pytest.approx(0.7, abs=0.02)
    assert spearman("utilization.plateau", "capex.overrun") == pytest.approx(0.0, abs=0.02)


def test_debt_is_sized_once_and_covenant_breaches_follow_min_dscr(default_case):
    base = engine.evaluate(default_case)
    paths = simulate.evaluate_paths(default_case, 2_000, seed=21, base=base)
    for line in ("debt_drawdown_eur", "debt_service_eur", "debt_balance_eur", "interest_paid_eur"):
        values = paths.line(line)
        assert np.all(values == values[0]), line
        np.testing.assert_array_equal(values[0], base.line(line)[0])
    mc = simulate.run(default_case, 5_000, seed=21, base=base)
    assert mc.debt is base.debt
    covenant = min(t.min_dscr_covenant for t in base.debt.tranches)
    breach = mc.kpis["min_dscr"] < covenant
    np.testing.assert_array_equal(mc.kpis["dscr_covenant_breach"], breach.astype(float))
    assert mc.summary["prob_dscr_covenant_breach"] == pytest.approx(float(np.mean(breach)), abs=1e-15)
    assert 0.0 < mc.summary["prob_dscr_covenant_breach"] < 1.0


def test_tiny_plant_with_debt_reports_breaches():
    case = with_uncertainty(
        tiny_case(ANNUITY_TRANCHE),
        variables={"revenue.launch_price_eur_per_gpu_hour": {"dist": "uniform", "low": 0.4, "high": 1.6}},
    )
    mc = simulate.run(case, 4_000, seed=2)
    # a lower price gives a lower DSCR: breaches happen exactly below some price
    price = mc.inputs[:, 0]
    breach = mc.kpis["dscr_covenant_breach"] == 1.0
    assert breach.any() and not breach.all()
    assert price[breach].max() < price[~breach].min()


def test_each_path_has_its_own_distribution_lockup(default_case):
    case = default_case.with_values({"debt.0.lockup_dscr": 2.5})
    base = engine.evaluate(case)
    mc = simulate.run(case, 2_000, seed=5, base=base)
    paths = simulate.evaluate_paths(case, 2_000, seed=5, base=base)
    retained = paths.line("lockup_retained_eur")
    np.testing.assert_array_equal(mc.kpis["lockup_years"], (retained > 0).sum(axis=-1))
    assert paths.line("lockup_balance_eur")[:, -1].max() == 0.0
    assert len(np.unique(mc.kpis["lockup_years"])) > 1  # paths differ
    assert mc.summary["prob_distribution_lockup"] == pytest.approx(float(np.mean(mc.kpis["lockup_years"] > 0)), abs=1e-15)
    assert 0.0 < mc.summary["prob_distribution_lockup"] <= 1.0
    assert "lockup_years" in mc.summary["kpis"]


# --- partners and hurdles --------------------------------------------------------------


def test_partner_blocks_and_hurdle(default_case):
    mc = simulate.run(default_case, 1_000, seed=4)
    summary = mc.summary
    partners = default_case.data["partners"]
    hurdle = sum(p["share"] * p["cost_of_equity"] for p in partners)
    assert summary["equity_hurdle"] == pytest.approx(hurdle)
    irr = mc.kpis["equity_irr"]
    for i, (block, partner) in enumerate(zip(summary["partners"], partners, strict=True)):
        assert block["name"] == partner["name"]
        assert block["irr"] == summary["kpis"]["equity_irr"]  # pro rata: the equity IRR
        below = np.where(np.isnan(irr), mc.partner_npv_eur[i] < 0, irr < partner["cost_of_equity"])
        assert block["prob_irr_below_cost_of_equity"] == pytest.approx(float(below.mean()))
    # a partner's NPV is its share of the equity flows valued at its own cost of equity,
    # Excel's NPV convention: Σ_t f_t / (1 + k)^(t + 1) (year-end flows, valued at 1 Jan)
    paths = simulate.evaluate_paths(default_case, 1_000, seed=4)
    equity = paths.line("equity_cash_flow_eur")
    for i, p in enumerate(partners):
        k = p["cost_of_equity"]
        hand = p["share"] * np.array([npf.npv(k, row) / (1 + k) for row in equity])
        np.testing.assert_allclose(mc.partner_npv_eur[i], hand, rtol=1e-9)


def test_probability_below_counts_nan_irr_by_npv():
    irr = np.array([0.05, 0.20, np.nan, np.nan])
    npv = np.array([-1.0, 1.0, -5.0, 3.0])  # the third never pays back, the fourth never needs funding
    assert simulate.probability_below(irr, npv, 0.10) == 0.5


# --- the IRR of a path -----------------------------------------------------------------


def test_path_irrs_are_finance_irr_of_the_path_flows(default_case):
    # The default case's equity flows change sign several times (GPU refreshes funded by
    # equity calls): every path's IRR is finance.irr of its own flows, the base case's rule.
    res = simulate.evaluate_paths(default_case, 300, seed=3)
    for kpi, line in (("project_irr", "project_cash_flow_eur"), ("equity_irr", "equity_cash_flow_eur")):
        flows = res.line(line)
        several = np.count_nonzero(np.diff(np.sign(flows), axis=1) != 0, axis=1) > 1
        assert several.mean() > 0.5, line
        expected = np.array([finance.irr(row) for row in flows])
        np.testing.assert_array_equal(res.kpis[kpi], expected, err_msg=kpi)
    for partner in res.partners:  # pro rata: the equity IRR
        np.testing.assert_array_equal(partner["irr"], res.kpis["equity_irr"])


def test_path_irr_of_conventional_flows_matches_numpy_financial():
    rng = np.random.default_rng(0)
    flows = np.concatenate([-rng.uniform(80, 120, (500, 1)), rng.uniform(5, 30, (500, 24))], axis=1)
    expected = np.array([npf.irr(row) for row in flows])
    np.testing.assert_allclose(finance.irr(flows), expected, rtol=0, atol=1e-10)


# --- summary shape ---------------------------------------------------------------------


def test_summary_block_is_complete_and_json_ready(default_case):
    mc = simulate.run(default_case, 2_000, seed=1)
    s = results.clean(mc.summary)
    json.dumps(s, allow_nan=False)
    for key in ("simulations", "seed", "sampling", "kpis", "partners", "equity_hurdle",
                "prob_project_npv_negative", "prob_equity_irr_below_hurdle", "prob_dscr_covenant_breach",
                "std_error_mean_project_npv_eur", "bands", "sensitivities", "histograms", "inputs"):
        assert key in s, key
    assert s["simulations"] == 2_000 and s["seed"] == 1 and s["sampling"] == "lhs"
    for name in ("project_npv_eur", "project_irr", "equity_npv_eur", "equity_irr", "min_dscr",
                 "payback_year", "peak_equity_exposure_eur", "lcoc_eur_per_gpu_hour"):
        assert set(s["kpis"][name]) == {"mean", "sd", "p5", "p10", "p50", "p90", "p95", "n_defined"}
    npv = mc.kpis["project_npv_eur"]
    assert s["std_error_mean_project_npv_eur"] == pytest.approx(np.std(npv, ddof=1) / np.sqrt(2_000))
    years = s["bands"]["years"]
    assert years[0] == default_case.data["project"]["start_year"] and len(years) == default_case.n_periods
    for line in simulate.BAND_LINES:
        band = s["bands"][line]
        assert all(len(band[f"p{q}"]) == len(years) for q in simulate.PERCENTILES)
        assert np.all(np.array(band["p5"]) <= np.array(band["p95"]))
    for name in simulate.HISTOGRAM_KPIS:
        h = s["histograms"][name]
        assert len(h["edges"]) == simulate.HISTOGRAM_BINS + 1
        assert sum(h["counts"]) == s["kpis"][name]["n_defined"]
    assert set(s["sensitivities"]["project_npv_eur"]) == set(default_case.data["uncertainty"]["variables"])
    # capex overrun lowers the NPV, the launch price raises it
    assert s["sensitivities"]["project_npv_eur"]["capex.overrun"] < -0.2
    assert s["sensitivities"]["project_npv_eur"]["revenue.launch_price_eur_per_gpu_hour"] > 0.2
    assert set(s["inputs"]) == set(default_case.data["uncertainty"]["variables"])


def test_pipeline_puts_the_block_into_results(default_case):
    run = pipeline.run_case(default_case, simulations=1_000, seed=77)
    block = run.doc["monte_carlo"]
    assert block["simulations"] == 1_000 and block["seed"] == 77
    json.dumps(block, allow_nan=False)
    assert "monte_carlo" not in pipeline.run_case(default_case, simulations=0).doc


# --- progress and interruption ---------------------------------------------------------


def test_progress_reports_every_chunk(default_case):
    calls: list[tuple[int, int]] = []
    n = 2 * simulate.BLOCK_SIZE + 10
    simulate.run(default_case, n, seed=1, chunk_size=simulate.BLOCK_SIZE, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(simulate.BLOCK_SIZE, n), (2 * simulate.BLOCK_SIZE, n), (n, n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_keyboard_interrupt_propagates_and_leaves_no_thread(default_case, workers):
    before = threading.active_count()

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate.run(default_case, 4 * simulate.BLOCK_SIZE, seed=1, chunk_size=simulate.BLOCK_SIZE,
                     workers=workers, progress=interrupt)
    assert threading.active_count() == before


# --- validation of the spec ------------------------------------------------------------


def spec_problems(default_case, variables=None, pairs=None) -> list[str]:
    data = copy.deepcopy(default_case.data)
    if variables is not None:
        data["uncertainty"]["variables"] = variables
    if pairs is not None:
        data["uncertainty"]["correlation"] = {"pairs": pairs}
    return simulate.check_spec(data, "case.toml")


def test_check_spec_accepts_the_default_file(default_case):
    assert simulate.check_spec(default_case.data, default_case.file) == []


def test_check_spec_reports_every_problem(default_case):
    problems = spec_problems(default_case, variables={
        "utilization.platoe": {"dist": "uniform", "low": 0.6, "high": 0.9},
        "project.operating_years": {"dist": "uniform", "low": 15, "high": 25},
        "debt.0.interest_rate": {"dist": "uniform", "low": 0.05, "high": 0.08},
        "revenue.price_decline": {"dist": "pert", "low": 0.3, "mode": 0.2, "high": 0.35},
        "utilization.plateau": {"dist": "normal", "mean": 0.85, "sd": 0.1},
        "capex.overrun": {"dist": "normal", "mean": 0.1, "sd": 0.1, "truncate": [-0.5, 3.0]},
    })
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert 'uncertainty.variables."utilization.platoe"' in text and "utilization.plateau" in text  # did you mean
    assert "project.operating_years" in text and "timeline" in text
    assert "debt.0.interest_rate" in text and "fixed on the base case" in text
    assert "mode = 0.2: must be >= low = 0.3" in text
    assert 'uncertainty.variables."utilization.plateau"' in text and "truncate = [0, 1]" in text
    assert all(": " in line for line in problems)


def test_check_spec_refuses_impossible_correlations(default_case):
    names = ["utilization.plateau", "revenue.price_decline", "capex.overrun"]
    problems = spec_problems(default_case, pairs=[[names[0], names[1], 0.9], [names[1], names[2], 0.9], [names[0], names[2], -0.9]])
    assert len(problems) == 1 and "not positive definite" in problems[0]
    problems = spec_problems(default_case, pairs=[["utilization.plateau", "revenue.price_decl", 0.3]])
    assert len(problems) == 1 and "did you mean" in problems[0]


def test_run_raises_all_problems_at_once(default_case):
    case = with_uncertainty(default_case, variables={
        "utilization.platoe": {"dist": "uniform", "low": 0.6, "high": 0.9},
        "revenue.price_decline": {"dist": "pert", "low": 0.3, "mode": 0.2, "high": 0.35},
    })
    with pytest.raises(AssumptionError) as info:
        simulate.run(case, 100, seed=1)
    message = str(info.value)
    # the two variables, and the default file's correlation pair naming a variable now absent
    assert message.startswith(f"{default_case.file}: 3 problems")
    assert "utilization.platoe" in message and "price_decline" in message
    assert "uncertainty.correlation.pairs[0][0]" in message


# --- scale -----------------------------------------------------------------------------


@pytest.mark.slow
def test_scale(default_case):
    """1,000,000 paths with BIZCASE_SLOW=1; 100,000 otherwise (benchmarks/bench_montecarlo.py times it)."""
    n = 1_000_000 if os.environ.get("BIZCASE_SLOW") == "1" else 100_000
    mc = simulate.run(default_case, n, seed=2026)
    assert mc.summary["simulations"] == n
    assert mc.kpis["project_npv_eur"].shape == (n,) and mc.inputs.shape == (n, len(mc.input_names))
    assert np.isfinite(mc.kpis["project_npv_eur"]).all()
    assert mc.summary["bands"]["n_paths"] == min(n, simulate.BAND_PATHS)
    # the standard error shrinks as 1/sqrt(n): the mean is known to about 0.3 % of the sd
    s = mc.summary
    assert s["std_error_mean_project_npv_eur"] < 0.004 * s["kpis"]["project_npv_eur"]["sd"]
