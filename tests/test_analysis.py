"""Analysis: scenarios, tornado/spider sensitivity, break-even solving and the EU funding gap.

Expected numbers come from hand computations written out below (funding gap of the tiny
plant), from scipy.stats (P10/P90 of the uncertain inputs), and from ``bizcase run --set``
itself (break-even values fed back through the CLI).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from bizcase import analysis, assumptions, engine, pipeline
from bizcase.cli import main
from bizcase.engine import evaluate
from bizcase.errors import BizcaseError
from tests.conftest import DEFAULT, TINY, tiny_case

TORNADO_ROW_KEYS = {"input", "low_value", "high_value", "kpi", "kpi_low", "kpi_high"}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def run_with_set(tmp_path: Path, sets: dict[str, float], *extra: str) -> dict:
    """``bizcase run --set PATH=VALUE ... --simulations 0 --json`` and its results document."""
    args = ["run", str(DEFAULT), "--simulations", "0", "--json", "--no-pdf", "--out", str(tmp_path / "out")]
    for path, value in sets.items():
        args += ["--set", f"{path}={value!r}"]
    result = invoke(*args, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- scenarios -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_table() -> list[dict]:
    return analysis.scenario_table(assumptions.load(DEFAULT))


def test_scenarios_rank_downside_base_upside(default_table):
    npv = {entry["scenario"]: entry["kpis"]["project_npv_eur"] for entry in default_table}
    assert npv["downside"] < npv["base"] < npv["upside"]


def assert_kpis_equal(actual: dict, expected: dict, rel: float = 1e-12) -> None:
    """Same KPI names; each value within ``rel`` or both without an answer (None or NaN)."""
    assert list(actual) == list(expected)
    for name, value in expected.items():
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        got = actual[name]
        if missing:
            assert got is None or (isinstance(got, float) and math.isnan(got)), name
        else:
            assert got == pytest.approx(value, rel=rel), name


def test_scenario_table_has_results_json_kpis(default_table):
    assert [e["scenario"] for e in default_table] == ["base", "downside", "upside", "no_grant"]
    base_case = assumptions.load(DEFAULT)
    doc = pipeline.run_case(base_case, simulations=0).doc
    assert_kpis_equal(default_table[0]["kpis"], doc["kpis"])
    # each overlay equals a run with --scenario
    downside = analysis.case_kpis(assumptions.load(DEFAULT, scenario="downside"))
    assert_kpis_equal(default_table[1]["kpis"], downside)
    assert default_table[3]["kpis"]["grants_eur"] == 0.0


def test_results_json_holds_scenarios_and_sensitivity(default_table):
    doc = pipeline.run_case(assumptions.load(DEFAULT), simulations=0).doc
    assert [e["scenario"] for e in doc["scenarios"]] == ["base", "downside", "upside", "no_grant"]
    assert set(doc["sensitivity"]) >= {"tornado", "spider", "base"}
    assert all(set(row) == TORNADO_ROW_KEYS for row in doc["sensitivity"]["tornado"])
    assert doc["kpis"]["funding_gap_rate"] == pytest.approx(default_table[0]["kpis"]["funding_gap_rate"])


def test_scenario_table_of_a_scenario_starts_from_the_file_base(default_table):
    # Run as --scenario downside: the table still shows the file's base and every overlay.
    table = analysis.scenario_table(assumptions.load(DEFAULT, scenario="downside"))
    assert [e["scenario"] for e in table] == ["base", "downside", "upside", "no_grant"]
    for mine, expected in zip(table, default_table, strict=True):
        assert_kpis_equal(mine["kpis"], expected["kpis"])


def test_scenario_table_applies_overrides_after_each_overlay():
    case = assumptions.load(DEFAULT, values={"utilization.plateau": 0.9})
    table = {e["scenario"]: e["kpis"] for e in analysis.scenario_table(case)}
    # the override wins over the downside overlay's plateau, as in `run --scenario downside --set`
    expected = analysis.case_kpis(assumptions.load(DEFAULT, scenario="downside", values={"utilization.plateau": 0.9}))
    assert_kpis_equal(table["downside"], expected)


def test_cli_scenarios_json_and_table():
    result = invoke("scenarios", str(DEFAULT), "--json")
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)
    assert isinstance(table, list) and len(table) == 4
    for entry in table:
        assert set(entry) == {"scenario", "kpis"}
        assert {"project_npv_eur", "equity_irr", "breakeven_price_eur_per_gpu_hour", "funding_gap_rate"} <= set(entry["kpis"])
    text = invoke("scenarios", str(DEFAULT))
    assert text.exit_code == 0
    header = text.stdout.splitlines()[1]
    assert header.split() == ["KPI", "base", "downside", "upside", "no_grant"]
    assert "Project NPV" in text.stdout and "EUR " in text.stdout


# --- break-even ----------------------------------------------------------------------------


def test_breakeven_plateau_for_zero_npv_reproduced_by_run_set(tmp_path):
    # At the file's launch price no plateau up to 100 % makes NPV zero; at EUR 3.2 one does.
    price = {"revenue.launch_price_eur_per_gpu_hour": 3.2}
    result = invoke("breakeven", str(DEFAULT), "--input", "utilization.plateau", "--target", "project_npv_eur=0",
                    "--set", "revenue.launch_price_eur_per_gpu_hour=3.2", "--json")
    assert result.exit_code == 0, result.output
    solved = json.loads(result.stdout)
    assert set(solved) == {"input", "value", "kpi", "target", "achieved"}
    assert 0.0 < solved["value"] < 1.0
    doc = run_with_set(tmp_path, {**price, "utilization.plateau": solved["value"]})
    tolerance = 1e-6 * doc["kpis"]["total_capex_eur"]
    assert abs(doc["kpis"]["project_npv_eur"]) < tolerance
    assert doc["kpis"]["project_npv_eur"] == pytest.approx(solved["achieved"], abs=1e-6)


def test_breakeven_launch_price_for_equity_irr_reproduced_by_run_set(tmp_path):
    result = invoke("breakeven", str(DEFAULT), "--input", "revenue.launch_price_eur_per_gpu_hour",
                    "--target", "equity_irr=0.12", "--json")
    assert result.exit_code == 0, result.output
    solved = json.loads(result.stdout)
    doc = run_with_set(tmp_path, {"revenue.launch_price_eur_per_gpu_hour": solved["value"]})
    assert abs(doc["kpis"]["equity_irr"] - 0.12) < 1e-6
    assert abs(solved["achieved"] - 0.12) < 1e-6


def test_required_grant_share_for_equity_irr_reproduced_by_run_set(tmp_path):
    # Grant 0 reaches its EUR 1bn cap at a share of about 0.17: target an equity IRR
    # between the IRR without grant 0 and the IRR at the cap.
    case = assumptions.load(DEFAULT)
    low = analysis.kpi_of(case, "grants.0.share_of_eligible_capex", "equity_irr")(0.0)
    high = analysis.kpi_of(case, "grants.0.share_of_eligible_capex", "equity_irr")(0.17)
    target = round(0.5 * (low + high), 4)
    result = invoke("breakeven", str(DEFAULT), "--input", "grants.0.share_of_eligible_capex",
                    "--target", f"equity_irr={target}", "--json")
    assert result.exit_code == 0, result.output
    solved = json.loads(result.stdout)
    assert 0.0 < solved["value"] < 0.17
    doc = run_with_set(tmp_path, {"grants.0.share_of_eligible_capex": solved["value"]})
    assert abs(doc["kpis"]["equity_irr"] - target) < 1e-6


def test_required_grant_beyond_the_cap_says_the_cap_binds():
    result = invoke("breakeven", str(DEFAULT), "--input", "grants.0.share_of_eligible_capex",
                    "--target", "equity_irr=0.12")
    assert result.exit_code == 2
    message = result.stderr
    assert "no value of grants.0.share_of_eligible_capex between 0 and 1 gives equity_irr = 0.12" in message
    assert "grants.0.cap_eur" in message and "stops moving" in message
    assert "Traceback" not in result.output


def test_breakeven_out_of_range_exits_2_naming_the_input():
    result = invoke("breakeven", str(DEFAULT), "--input", "utilization.plateau", "--target", "project_npv_eur=0")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no value of utilization.plateau between 0 and 1 gives project_npv_eur = 0")
    assert "project_npv_eur ranges from" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--input", "utilization.platea", "--target", "project_npv_eur=0"], "did you mean 'utilization.plateau'?"),
        (["--input", "utilization.plateau", "--target", "project_npv=0"], "did you mean 'project_npv_eur'?"),
        (["--input", "project.construction_years", "--target", "project_npv_eur=0"], "shapes the timeline"),
        (["--input", "utilization.plateau", "--target", "project_npv_eur"], "write KPI=VALUE"),
        (["--input", "utilization.plateau", "--target", "equity_irr=twelve"], "is not a number"),
    ],
)
def test_breakeven_bad_names_exit_2(args, expected):
    result = invoke("breakeven", str(DEFAULT), *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_breakeven_text_output_and_percent_target():
    result = invoke("breakeven", str(DEFAULT), "--input", "revenue.launch_price_eur_per_gpu_hour",
                    "--target", "equity_irr=12%")
    assert result.exit_code == 0, result.output
    assert "gives Equity IRR = 12.0 %" in result.stdout
    assert "bizcase run --set revenue.launch_price_eur_per_gpu_hour=" in result.stdout


def test_solve_rounds_integer_inputs():
    # customers.0.gpus is a whole number of GPUs: the solution is rounded so that --set accepts it
    case = assumptions.load(DEFAULT)
    npv_of_gpus = analysis.kpi_of(case, "customers.0.gpus", "project_npv_eur")
    target = 0.5 * (npv_of_gpus(0) + npv_of_gpus(30_000))  # inside the range, whatever the default case's NPV
    value = analysis.solve(case, "customers.0.gpus", "project_npv_eur", target, high=30_000)
    assert value == int(value) and 0 < value < 30_000
    assert npv_of_gpus(value) == pytest.approx(target, rel=1e-3)


# --- EU funding gap ------------------------------------------------------------------------


def test_funding_gap_of_the_tiny_plant_by_hand():
    # The tiny plant at EUR 0.8/GPU-hour with 20 % of its final book value as residual value,
    # at the default funding-gap rate of 4 % and year-end flows (period t discounted by 1.04^(t+1)).
    #
    # Investment: EUR 11,000,000 in period 0 (2026), no refresh within the horizon
    #   DIC = 11,000,000 / 1.04                                   = 10,576,923.08
    # Net revenue, operating years 2027-2029 (periods 1-3):
    #   revenue 4,380,000 GPU-h × 0.8 = 3,504,000; power 4,380 MWh × 100 = 438,000
    #   net 3,066,000 a year × (1.04^-2 + 1.04^-3 + 1.04^-4 = 2.66835676)  =  8,181,181.8
    # Residual value at the end of 2029 (period 3):
    #   facility 1,000,000 × (4 − 3)/4 = 250,000; compute 10,000,000 × (10 − 3)/10 = 7,000,000
    #   0.2 × 7,250,000 = 1,450,000, × 1.04^-4 = 0.85480419          =  1,239,466.1
    #   DNR = 8,181,181.8 + 1,239,466.1                               =  9,420,647.9
    # R = (DIC − DNR) / DIC = 1,156,275.2 / 10,576,923.1             =  0.1093206
    # Eligible cost (no grant: facility + initial compute) = 11,000,000; DA = EC × R = 1,202,526
    case = tiny_case(**{"revenue.launch_price_eur_per_gpu_hour": 0.8, "capex.residual_value_share": 0.2})
    dic = 11_000_000 / 1.04
    dnr = 3_066_000 * (1.04**-2 + 1.04**-3 + 1.04**-4) + 0.2 * 7_250_000 * 1.04**-4
    rate = (dic - dnr) / dic
    assert rate == pytest.approx(0.1093206, abs=1e-7)
    kpis = analysis.extra_kpis(case, evaluate(case))
    assert kpis["funding_gap_dic_eur"] == pytest.approx(dic, rel=1e-12)
    assert kpis["funding_gap_dnr_eur"] == pytest.approx(dnr, rel=1e-12)
    assert kpis["funding_gap_rate"] == pytest.approx(rate, rel=1e-12)
    assert kpis["funding_gap_eligible_cost_eur"] == pytest.approx(11_000_000, rel=1e-12)
    assert kpis["funding_gap_grant_eur"] == pytest.approx(11_000_000 * rate, rel=1e-12)


def test_funding_gap_counts_resale_of_retired_compute_as_residual_inflow():
    # The tiny plant over 4 operating years at EUR 2/GPU-hour with a 2-year compute life and
    # 25 % resale (worked out in tests/test_engine.py): refresh 10,000,000 and resale
    # 2,500,000 both in 2028 (period 2), discounted by 1.04^-3.
    #   DIC = 11,000,000 / 1.04 + 10,000,000 / 1.04^3      (the refresh stays in DIC in full)
    #   DNR = 8,322,000 × (1.04^-2 + … + 1.04^-5) + 2,500,000 / 1.04^3
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 4")
    case = assumptions.loads(text.encode(), "tiny.toml").with_values({
        "revenue.launch_price_eur_per_gpu_hour": 2.0, "capex.compute_life_years": 2, "capex.compute_resale_share": 0.25,
    })
    dic = 11_000_000 / 1.04 + 10_000_000 / 1.04**3
    dnr = 8_322_000 * sum(1.04**-k for k in range(2, 6)) + 2_500_000 / 1.04**3
    kpis = analysis.extra_kpis(case, evaluate(case))
    assert kpis["funding_gap_dic_eur"] == pytest.approx(dic, rel=1e-12)
    assert kpis["funding_gap_dnr_eur"] == pytest.approx(dnr, rel=1e-12)


def test_funding_gap_eligible_cost_follows_the_grants_and_ignores_them_in_dic():
    # A 10 % grant on the facility only: EC is the facility's EUR 1,000,000; DIC stays before grants.
    grant = '\n[[grants]]\nname = "EU"\nshare_of_eligible_capex = 0.1\neligible = ["facility"]\n'
    case = tiny_case(grant, **{"revenue.launch_price_eur_per_gpu_hour": 0.8, "capex.residual_value_share": 0.2})
    kpis = analysis.extra_kpis(case, evaluate(case))
    assert kpis["funding_gap_dic_eur"] == pytest.approx(11_000_000 / 1.04, rel=1e-12)
    assert kpis["funding_gap_eligible_cost_eur"] == pytest.approx(1_000_000, rel=1e-12)
    assert kpis["funding_gap_grant_eur"] == pytest.approx(1_000_000 * kpis["funding_gap_rate"], rel=1e-12)


def test_funding_gap_rate_is_zero_when_net_revenue_covers_investment():
    # At the file's EUR 1/GPU-hour and no residual value, DNR = 3,942,000 × 2.66835676 = 10,518,662
    # < DIC 10,576,923: a gap of 58,261 / 10,576,923 = 0.55083 %; at EUR 2/GPU-hour the plant
    # pays for itself: no gap.
    small = analysis.extra_kpis(tiny_case(), evaluate(tiny_case()))
    assert small["funding_gap_rate"] == pytest.approx(0.0055083, abs=1e-7)
    rich = tiny_case(**{"revenue.launch_price_eur_per_gpu_hour": 2.0})
    assert analysis.extra_kpis(rich, evaluate(rich))["funding_gap_rate"] == 0.0


def test_funding_gap_uses_its_discount_rate_and_mid_year_timing():
    case = tiny_case('\n[funding_gap]\ndiscount_rate = 0.06\n', **{"project.discounting": "mid"})
    kpis = analysis.extra_kpis(case, evaluate(case))
    # mid-year: period t discounted by 1.06^(t + 0.5)
    dic = 11_000_000 / 1.06**0.5
    dnr = 3_942_000 * sum(1.06 ** -(t + 0.5) for t in (1, 2, 3))
    assert kpis["funding_gap_rate"] == pytest.approx((dic - dnr) / dic, rel=1e-12)


# --- sensitivity ---------------------------------------------------------------------------


def scipy_p10_p90(spec: dict) -> tuple[float, float]:
    """P10 and P90 of an uncertainty spec, independently through scipy.stats."""
    kind = spec["dist"]
    if kind == "triangular":
        low, mode, high = spec["low"], spec["mode"], spec["high"]
        dist = stats.triang(c=(mode - low) / (high - low), loc=low, scale=high - low)
    elif kind == "pert":
        low, mode, high = spec["low"], spec["mode"], spec["high"]
        alpha = 1 + 4 * (mode - low) / (high - low)
        beta = 1 + 4 * (high - mode) / (high - low)
        dist = stats.beta(alpha, beta, loc=low, scale=high - low)
    elif kind == "lognormal":
        dist = stats.lognorm(s=spec["sigma"], scale=spec["median"])
    elif kind == "uniform":
        dist = stats.uniform(loc=spec["low"], scale=spec["high"] - spec["low"])
    else:
        raise AssertionError(kind)
    return float(dist.ppf(0.1)), float(dist.ppf(0.9))


@pytest.fixture(scope="module")
def default_tornado() -> dict:
    return analysis.tornado(assumptions.load(DEFAULT))


def test_tornado_low_high_are_p10_p90_of_each_uncertain_input(default_tornado):
    variables = assumptions.load(DEFAULT).data["uncertainty"]["variables"]
    rows = default_tornado["tornado"]
    assert {r["input"] for r in rows} == set(variables)
    for row in rows:
        p10, p90 = scipy_p10_p90(variables[row["input"]])
        assert row["low_value"] == pytest.approx(p10, rel=1e-9)
        assert row["high_value"] == pytest.approx(p90, rel=1e-9)
    assert default_tornado["method"] == "p10_p90"


def test_tornado_rows_sorted_by_swing_per_kpi(default_tornado):
    rows = default_tornado["tornado"]
    assert all(set(r) == TORNADO_ROW_KEYS for r in rows)
    for kpi in ("project_npv_eur", "equity_irr"):
        swings = [abs(r["kpi_high"] - r["kpi_low"]) for r in rows if r["kpi"] == kpi]
        assert len(swings) == 6
        assert swings == sorted(swings, reverse=True)
    assert [r["kpi"] for r in rows] == ["project_npv_eur"] * 6 + ["equity_irr"] * 6


def test_tornado_bars_equal_runs_with_set_debt_resized(default_tornado):
    case = assumptions.load(DEFAULT)
    row = next(r for r in default_tornado["tornado"] if r["kpi"] == "equity_irr" and r["input"] == "capex.overrun")
    # what `bizcase run --set capex.overrun=...` reports: debt sized on the overrun case
    res = evaluate(case.with_values({"capex.overrun": row["high_value"]}))
    assert row["kpi_high"] == pytest.approx(float(res.kpis["equity_irr"][0]), rel=1e-12)
    assert float(res.kpis["debt_eur"][0]) > float(evaluate(case).kpis["debt_eur"][0])
    assert default_tornado["base"]["project_npv_eur"] == pytest.approx(float(evaluate(case).kpis["project_npv_eur"][0]))


def test_spider_series_cover_minus_20_to_plus_20_pct(default_tornado):
    spider = default_tornado["spider"]
    assert spider["pcts"] == [-20.0, -10.0, 0.0, 10.0, 20.0]
    plateau = next(s for s in spider["series"] if s["input"] == "utilization.plateau")
    # 0.85 × (0.8, 0.9, 1, 1.1, 1.2), the last clipped to the valid maximum of 1
    np.testing.assert_allclose(plateau["values"], [0.68, 0.765, 0.85, 0.935, 1.0], rtol=1e-12)
    npv = plateau["kpis"]["project_npv_eur"]
    assert npv[2] == pytest.approx(default_tornado["base"]["project_npv_eur"])
    assert npv == sorted(npv)  # more demand, more value


def test_tornado_chosen_inputs_at_pct_clipped_to_range():
    case = assumptions.load(DEFAULT)
    result = analysis.tornado(case, ["utilization.plateau", "opex.power_price_eur_per_mwh"], 20)
    rows = {(r["input"], r["kpi"]): r for r in result["tornado"]}
    plateau = rows["utilization.plateau", "project_npv_eur"]
    assert (plateau["low_value"], plateau["high_value"]) == pytest.approx((0.68, 1.0))  # 1.02 clipped to 1
    power = case.get("opex.power_price_eur_per_mwh")
    assert rows["opex.power_price_eur_per_mwh", "equity_irr"]["high_value"] == pytest.approx(1.2 * power)
    assert result["method"] == "pct" and result["pct"] == 20
    with pytest.raises(BizcaseError, match="did you mean 'utilization.plateau'"):
        analysis.tornado(case, ["utilization.platue"])


def test_cli_sensitivity_table_and_json():
    result = invoke("sensitivity", str(DEFAULT), "--input", "utilization.plateau", "--input", "revenue.price_decline", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"tornado", "spider", "base"}
    assert len(doc["tornado"]) == 4
    plateau = next(r for r in doc["tornado"] if r["input"] == "utilization.plateau")
    assert (plateau["low_value"], plateau["high_value"]) == pytest.approx((0.765, 0.935))  # ± 10 % default
    text = invoke("sensitivity", str(DEFAULT), "--pct", "5")
    assert text.exit_code == 0, text.output
    assert "± 5 % of base" in text.stdout
    assert "Project NPV" in text.stdout and "Equity IRR" in text.stdout
    bad = invoke("sensitivity", str(DEFAULT), "--input", "revenue.price")
    assert bad.exit_code == 2 and "is not a known input" in bad.stderr


def test_every_new_command_has_help():
    for command in ("scenarios", "sensitivity", "breakeven"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and len(result.stdout) > 100


def test_breakeven_price_matches_solve_over_the_full_grid():
    case = assumptions.load(DEFAULT)
    fine = analysis.solve(case, "revenue.launch_price_eur_per_gpu_hour", "project_npv_eur", 0.0, low=0.0, high=50.0)
    assert analysis.breakeven_price(case) == pytest.approx(fine, rel=1e-12)
    assert not math.isnan(fine)


def test_funding_gap_rate_is_made_nominal_for_nominal_flows():
    # The EC guide's 4 % is real; the flows are nominal, so at 2 % inflation the rate used
    # is 1.04 × 1.02 − 1 = 6.08 %; with rate_basis = "nominal" the 4 % is used as given.
    real = tiny_case(**{"project.inflation": 0.02})
    nominal = tiny_case(**{"project.inflation": 0.02, "funding_gap.rate_basis": "nominal"})
    assert analysis.funding_gap_rate_used(real) == pytest.approx(0.0608, abs=1e-15)
    assert analysis.funding_gap_rate_used(nominal) == 0.04
    gap = analysis.funding_gap(engine.evaluate(real))
    factors = [1.0608 ** -(t + 1) for t in range(4)]
    dic = 11_000_000 * factors[0]
    assert gap.dic_eur[0] == pytest.approx(dic, rel=1e-12)
    assert analysis.extra_kpis(real, engine.evaluate(real))["funding_gap_nominal_discount_rate"] == pytest.approx(0.0608)
