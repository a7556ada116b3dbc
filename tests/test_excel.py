"""The live-formula workbook, recalculated in a real spreadsheet engine (LibreOffice).

Expected values come from the engine itself (``run.result.line``, ``run.doc``): the
workbook must reproduce every calculated line cell and KPI to a relative 1e-9, with an
absolute floor of 1e-6 (money and quantities) or 1e-12 (ratios) for values near zero. All
workbooks are recalculated in ONE LibreOffice call (module fixture ``recalculated``).
"""

from __future__ import annotations

import io
import math
import re
import shutil
import time
from typing import Any

import numpy as np
import openpyxl
import pytest

from bizcase import assumptions, engine, excel, formatting, pipeline, results
from bizcase.assumptions import Case
from tests import lo
from tests.conftest import ANNUITY_TRANCHE, DEFAULT, TINY, tiny_case

REL = 1e-9
ERRORS = ("#NAME?", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#N/A", "#NULL!", "Err:")

TWO_TRANCHES_AND_GRANTS = """
[[grants]]
name = "Capped grant"
share_of_eligible_capex = 0.5
cap_eur = 2_000_000
eligible = ["facility", "compute_initial"]

[[grants]]
name = "Refresh grant"
share_of_eligible_capex = 0.1
cap_eur = 1_000_000_000
eligible = ["compute_initial", "compute_refresh"]

[[customers]]
name = "Anchor larger than the first cohort"
gpus = 700
price_eur_per_gpu_hour = 1.2
first_operating_year = 1
years = 3
escalation = 0.02

[[debt]]
name = "Annuity loan"
gearing = 0.4
interest_rate = 0.07
tenor_years = 6
grace_years = 0
repayment = "annuity"
min_dscr_covenant = 1.2
upfront_fee = 0.01

[[debt]]
name = "Linear loan with grace"
gearing = 0.2
interest_rate = 0.05
tenor_years = 7
grace_years = 2
repayment = "linear"
min_dscr_covenant = 1.1
upfront_fee = 0.005
"""

INJECTION = '=HYPERLINK("http://example.com","x")'


def _complex_case() -> Case:
    """Refresh cohorts with resale of the retired ones, a binding grant cap, a
    refresh-eligible grant, anchors capped by capacity, two tranches (annuity; linear
    with grace) with distribution lock-ups at different ratios and debt service reserves of
    different lengths, tax with losses offset under a binding minimum-taxation limit, mid-year."""
    text = TINY.read_text().replace("operating_years = 3", "operating_years = 8").replace("deployment = [1.0]", "deployment = [0.5, 0.5]")
    return assumptions.loads((text + TWO_TRANCHES_AND_GRANTS).encode(), "complex.toml").with_values({
        "project.discounting": "mid",
        "project.inflation": 0.02,
        "capex.compute_life_years": 3,
        "capex.compute_cost_change": -0.1,
        "capex.compute_resale_share": 0.15,
        "capex.residual_value_share": 0.5,
        "capex.contingency": 0.05,
        "revenue.launch_price_eur_per_gpu_hour": 2.5,
        "revenue.price_decline": 0.15,
        "revenue.launch_price_change": 0.03,
        "utilization.start": 0.3,
        "utilization.plateau": 0.8,
        "utilization.steepness": 1.3,
        "public_access.share": 0.1,
        "public_access.price_discount": 0.4,
        "opex.idle_power_share": 0.3,
        "opex.ppa_share": 0.5,
        "opex.ppa_price_eur_per_mwh": 80,
        "opex.power_price_escalation": 0.02,
        "opex.staff_eur_per_year": 200_000,
        "opex.maintenance_share_of_capex": 0.01,
        "tax.rate": 0.25,
        # the first year's loss (EUR 23k) exceeds what may be offset in the next
        # (5,000 + 0.3 % of the rest of EUR 3.0m ≈ 14k): the rest waits a year
        "tax.loss_offset_threshold_eur": 5_000,
        "tax.loss_offset_share_above_threshold": 0.003,
        "debt.0.lockup_dscr": 9.5,
        "debt.1.lockup_dscr": 7.0,
        "debt.0.dsra_months": 6.0,
        "debt.1.dsra_months": 3.0,
    })


def _cases() -> dict[str, Case]:
    default = assumptions.load(DEFAULT)
    return {
        "default": default,
        "tiny": tiny_case(),
        "tiny_annuity_tax": tiny_case(ANNUITY_TRANCHE, **{"tax.rate": 0.3}),
        "tiny_annuity_no_carry": tiny_case(ANNUITY_TRANCHE, **{"tax.rate": 0.3, "tax.loss_carry_forward": False, "tax.grants_reduce_asset_base": False}),
        "default_linear": default.with_values({"debt.0.repayment": "linear", "debt.0.grace_years": 1, "debt.0.lockup_dscr": 2.3, "debt.0.dsra_months": 9.0}),
        "default_sculpted": default.with_values({"debt.0.repayment": "sculpted", "debt.0.lockup_dscr": 2.35}),
        "default_sculpted_capped": default.with_values({"debt.0.repayment": "sculpted", "debt.0.target_dscr": 2.5, "debt.0.gearing": 0.8, "debt.0.lockup_dscr": 1.1, "tax.capitalise_construction_interest": False}),
        "complex": _complex_case(),
        "injection": tiny_case(**{"project.name": "=1+1 project", "partners.0.name": INJECTION}),
    }


WHAT_IF = {
    "revenue.launch_price_eur_per_gpu_hour": 3.1,
    "opex.power_price_eur_per_mwh": 105.0,
    "debt.0.gearing": 0.5,
}


#: One partner's share changed in the file: the shares no longer sum to 1 (0.40 -> 0.45).
BAD_SHARE = {"partners.0.share": 0.45}


def _set_inputs(xlsx: bytes, values: dict[str, float]) -> bytes:
    """Change input cells in a workbook file, found by their defined names."""
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    for path, value in values.items():
        name = excel.defined_name(path)
        dest = next(iter(wb.defined_names[name].destinations))
        wb[dest[0]][dest[1].replace("$", "")].value = value
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _quick_run(case: Case) -> pipeline.Run:
    """A run without the break-even solve (about 1 s a case): its KPI shows as a value "n/a"."""
    base = engine.evaluate(case)
    extra = {"breakeven_price_eur_per_gpu_hour": float("nan")}
    return pipeline.Run(base, results.build(base, extra, simulations=0), None)


@pytest.fixture(scope="module")
def runs() -> dict[str, pipeline.Run]:
    cases = _cases()
    out = {"default": pipeline.run_case(cases.pop("default"), simulations=0)}
    out.update({name: _quick_run(case) for name, case in cases.items()})
    for base in ("default", "default_sculpted"):
        out[f"{base}_whatif"] = _quick_run(out[base].result.case.with_values(WHAT_IF))
    return out


@pytest.fixture(scope="module")
def built(runs: dict[str, pipeline.Run]) -> dict[str, tuple[bytes, excel.Layout]]:
    out = {}
    for name, run in runs.items():
        if name.endswith("_whatif"):
            continue
        wb, layout = excel.build(run)
        buf = io.BytesIO()
        wb.save(buf)
        out[name] = (buf.getvalue(), layout)
    for base in ("default", "default_sculpted"):
        data, layout = out[base]
        out[f"{base}_whatif"] = (_set_inputs(data, WHAT_IF), layout)
    data, layout = out["default"]
    out["default_bad_share"] = (_set_inputs(data, BAD_SHARE), layout)
    return out


@pytest.fixture(scope="module")
def recalculated(built: dict[str, tuple[bytes, excel.Layout]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if lo.SOFFICE is None:
        pytest.skip("LibreOffice (soffice) not installed; CI installs libreoffice-calc-nogui")
    return lo.recalc({name: data for name, (data, _) in built.items()}, tmp_path_factory.mktemp("lo"))


def close(got: Any, want: float, atol: float) -> bool:
    """Relative 1e-9, with an absolute floor ``atol`` for values near zero."""
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got == "n/a"
    if isinstance(got, bool) or not isinstance(got, int | float):
        return False
    return abs(got - want) <= max(REL * abs(want), atol)


ATOL = 1e-6  # [EUR, GPU-h, MWh …] for values that are zero up to rounding
ATOL_RATIO = 1e-12  # for rates, ratios and years

def _compare_lines(wb: Any, layout: excel.Layout, run: pipeline.Run) -> list[str]:
    res = run.result
    bad = []
    for key in res.lines:
        sheet, row = layout.lines[key]
        want = res.line(key)[0]
        atol = ATOL
        for t in range(layout.n_periods):
            got = wb[sheet].cell(row=row, column=layout.first_col + t).value
            if not close(got, float(want[t]), atol):
                bad.append(f"{key}[{t}] ({sheet}!{openpyxl.utils.get_column_letter(layout.first_col + t)}{row}): {got!r} != {float(want[t])!r}")
        if key in layout.totals:
            s, cell = layout.totals[key]
            total = float(want.sum())
            if not close(wb[s][cell].value, total, ATOL):
                bad.append(f"total {key}: {wb[s][cell].value!r} != {total!r}")
    return bad


def _compare_kpis(wb: Any, layout: excel.Layout, run: pipeline.Run) -> list[str]:
    bad = []
    for key, want in run.doc["kpis"].items():
        sheet, cell = layout.kpis[key]
        got = wb[sheet][cell].value
        if not close(got, want, ATOL if key.endswith("_eur") else ATOL_RATIO):
            bad.append(f"KPI {key}: {got!r} != {want!r}")
    for where, record in zip(layout.partners, run.doc["partners"], strict=True):
        for key, (sheet, cell) in where.items():
            got, want = wb[sheet][cell].value, record[key]
            if key == "name":
                ok = got == want
            else:
                ok = close(got, want, ATOL if key.endswith("_eur") else ATOL_RATIO)
            if not ok:
                bad.append(f"partner {record['name']} {key}: {got!r} != {want!r}")
    return bad


def _errors(wb: Any) -> list[str]:
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith(ERRORS):
                    out.append(f"{ws.title}!{c.coordinate}: {c.value}")
    return out


CASES = ["default", "tiny", "tiny_annuity_tax", "tiny_annuity_no_carry", "default_linear", "default_sculpted", "default_sculpted_capped", "complex", "injection"]


@lo.needs_soffice
@pytest.mark.parametrize("name", CASES)
def test_every_line_and_kpi_matches_the_engine(name: str, runs: dict, built: dict, recalculated: dict) -> None:
    wb, (_, layout), run = recalculated[name], built[name], runs[name]
    assert _errors(wb) == []
    assert set(run.result.lines) <= set(layout.lines)
    bad = _compare_lines(wb, layout, run) + _compare_kpis(wb, layout, run)
    assert bad == [], f"{len(bad)} mismatches, first: " + "\n".join(bad[:15])


@lo.needs_soffice
@pytest.mark.parametrize("name", CASES)
def test_checks_pass_in_the_workbook(name: str, runs: dict, built: dict, recalculated: dict) -> None:
    wb, (_, layout) = recalculated[name], built[name]
    for check, (sheet, cell) in layout.checks.items():
        assert wb[sheet][cell].value is True, check
    # the engine agrees, tranche by tranche from each one's own maturity
    engine_failures = {c["name"] for c in runs[name].doc["checks"] if not c["passed"]}
    assert not engine_failures
    sheet, cell = layout.master_check
    assert wb[sheet][cell].value is True


def test_the_cases_cover_what_they_claim(runs: dict) -> None:
    """The special cases exercise the engine paths they are named after."""
    complex_res = runs["complex"].result
    assert complex_res.lines["refresh_capex_eur"].sum() > 0
    assert complex_res.lines["compute_resale_eur"].sum() > 0
    assert runs["default"].result.lines["compute_resale_eur"].sum() > 0
    grants = runs["complex"].result.case.data["grants"]
    assert complex_res.lines["grant_0_eur"].sum() == pytest.approx(grants[0]["cap_eur"])  # cap binds
    assert len(complex_res.debt.tranches) == 2
    assert runs["complex"].result.case.data["project"]["discounting"] == "mid"
    sculpted = runs["default_sculpted_capped"]
    plain = pipeline.run_case(sculpted.result.case.with_values({"debt.0.repayment": "annuity"}), simulations=0)
    assert sculpted.doc["kpis"]["debt_eur"] < plain.doc["kpis"]["debt_eur"]  # sculpting cap binds
    assert runs["default_linear"].result.debt.tranches[0].first_repayment_period == 3
    # the distribution lock-up binds: surpluses retained and released, shortfalls covered
    # from the account; in the complex case the ratio steps down when the first tranche is repaid
    for name in ("complex", "default_linear", "default_sculpted"):
        lines = runs[name].result.lines
        assert lines["lockup_retained_eur"].sum() > 0 and lines["lockup_released_eur"].sum() > 0, name
        assert lines["lockup_balance_eur"][..., -1].max() == 0.0
    linear = runs["default_linear"].result.lines
    covered = (linear["lockup_released_eur"] > 0) & (linear["net_cash_to_equity_eur"] < 0) & (linear["lockup_flag"] == 1)
    assert covered.any()
    assert set(complex_res.lines["lockup_ratio"][0]) == {0.0, 7.0, 9.5}
    # the debt service reserve binds: funded, released, empty at the end; in the complex
    # case both tranches hold one
    for name in ("complex", "default_linear"):
        lines = runs[name].result.lines
        assert lines["dsra_target_eur"].max() > 0 and lines["dsra_funding_eur"].min() < 0, name
        assert lines["dsra_target_eur"][..., -1].max() == 0.0
    assert all(t.dsra_months > 0 for t in complex_res.debt.tranches)
    # interest capitalised during construction (2 construction years) is depreciated in
    # the levered tax, except where the capped sculpted case switches it off
    for name in ("default", "default_linear", "default_sculpted", "default_sculpted_capped"):
        assert runs[name].result.lines["interest_capitalised_eur"].sum() > 0, name
    for name in ("default", "default_linear", "default_sculpted"):
        assert runs[name].result.lines["idc_depreciation_eur"].sum() > 0, name
    assert runs["default_sculpted_capped"].result.lines["idc_depreciation_eur"].sum() == 0.0
    # minimum taxation binds: some year offsets less than min(losses brought forward, profit),
    # in the levered tax of both cases and the unlevered tax of the default (EUR 1m, 60 %)
    assert runs["default"].result.case.data["tax"]["loss_offset_threshold_eur"] == 1_000_000
    for name, kind in (("default", "levered"), ("default", "unlevered"), ("complex", "levered")):
        res = runs[name].result
        tax = res.case.data["tax"]
        profit = res.line("ebt_eur" if kind == "levered" else "ebit_eur")
        _, pool, offset = engine._tax(profit, tax["rate"], True, tax["loss_offset_threshold_eur"], tax["loss_offset_share_above_threshold"])
        if kind == "levered":
            assert (offset == res.line("tax_loss_offset_eur")).all()
        opening = pool[..., :-1]
        assert (offset[..., 1:] < np.minimum(opening, np.maximum(profit[..., 1:], 0.0)) - 1.0).any(), (name, kind)


@lo.needs_soffice
@pytest.mark.parametrize("base", ["default", "default_sculpted"])
def test_what_if_changed_inputs_give_the_engine_kpis(base: str, runs: dict, built: dict, recalculated: dict) -> None:
    """Launch price, power price and gearing changed in the file; engine run with --set."""
    name = f"{base}_whatif"
    wb, (_, layout), run = recalculated[name], built[name], runs[name]
    assert _errors(wb) == []
    assert run.doc["kpis"]["project_npv_eur"] != pytest.approx(runs[base].doc["kpis"]["project_npv_eur"])
    values = {k: v for k, v in run.doc["kpis"].items() if k != "breakeven_price_eur_per_gpu_hour"}
    bad = []
    for key, want in values.items():
        sheet, cell = layout.kpis[key]
        got = wb[sheet][cell].value
        if not close(got, want, ATOL if key.endswith("_eur") else ATOL_RATIO):
            bad.append(f"{key}: {got!r} != {want!r}")
    assert bad == []
    bad_lines = _compare_lines(wb, layout, run)
    assert bad_lines == [], "\n".join(bad_lines[:10])


@lo.needs_soffice
def test_text_from_assumptions_stays_text(recalculated: dict, built: dict) -> None:
    wb = recalculated["injection"]
    names = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert INJECTION in names
    assert "=1+1 project" in names
    raw = openpyxl.load_workbook(io.BytesIO(built["injection"][0]))
    texts = [c for ws in raw.worksheets for row in ws.iter_rows() for c in row if c.value in (INJECTION, "=1+1 project")]
    assert texts and all(c.data_type == "s" for c in texts)


def test_default_workbook_shape(runs: dict) -> None:
    run = runs["default"]
    wb, layout = excel.build(run)
    formulas = list(excel.formula_cells(wb))
    assert len(formulas) >= 1000
    forbidden = re.compile(r"\b(" + "|".join(excel.FORBIDDEN_FUNCTIONS) + r")\s*\(", re.I)
    assert [c.value for c in formulas if forbidden.search(str(c.value))] == []
    kpi_names = {n for n, d in wb.defined_names.items() if next(iter(d.destinations))[0] == "Outputs" and n in layout.kpis}
    assert kpi_names == set(run.doc["kpis"])
    assert set(run.doc["kpis"]) <= set(wb.defined_names)
    for path, _f, _ in assumptions.iter_fields(run.result.case.data):
        assert excel.defined_name(path) in wb.defined_names, path
    assert wb.sheetnames == list(excel.SHEETS)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert not (isinstance(c.value, float) and not math.isfinite(c.value)), f"{ws.title}!{c.coordinate}"


def test_defined_names_refuse_cell_like_names() -> None:
    assert excel.defined_name("revenue.launch_price_eur_per_gpu_hour") == "revenue_launch_price_eur_per_gpu_hour"
    assert excel.defined_name("grants.0.share_of_eligible_capex") == "grants_0_share_of_eligible_capex"
    for bad in ("AB12", "R1C1", "r", "TRUE", "1abc"):
        with pytest.raises(ValueError):
            excel.defined_name(bad)


def test_monte_carlo_and_scenarios_sheets_from_the_document(runs: dict) -> None:
    run = runs["tiny"]
    doc = dict(run.doc)
    doc["monte_carlo"] = {
        "kpis": {"project_npv_eur": {"mean": 1.0, "sd": 2.0, "p5": -1.0, "p10": 0.0, "p50": 1.0, "p90": 2.0, "p95": None}},
        "histograms": {"project_npv_eur": {"edges": [0.0, 1.0, 2.0], "counts": [3, 4]}},
        "prob_project_npv_negative": 0.25,
    }
    doc["scenarios"] = [{"scenario": INJECTION, "kpis": {"project_npv_eur": 5.0, "project_irr": None}}]
    wb, _ = excel.build(pipeline.Run(run.result, doc, None))
    mc = wb["Monte Carlo"]
    values = [c.value for row in mc.iter_rows() for c in row]
    assert "n/a" in values and 0.25 in values and 4 in values
    assert mc._charts
    sc = wb["Scenarios"]
    header = sc.cell(row=3, column=2)
    assert header.value == INJECTION and header.data_type == "s"
    assert "n/a" in [c.value for row in sc.iter_rows() for c in row]
    wb2, _ = excel.build(run)
    assert "not run" in str(wb2["Monte Carlo"]["A3"].value)
    assert "No scenarios" in str(wb2["Scenarios"]["A3"].value)


def test_monte_carlo_sheet_of_a_real_simulation(default_case: Case) -> None:
    run = pipeline.run_case(default_case, simulations=64)
    wb, _ = excel.build(run)
    ws = wb["Monte Carlo"]
    labels = {c.value for row in ws.iter_rows(max_col=1) for c in row}
    assert "Project NPV" in labels and "prob project npv negative" in labels
    assert len(ws._charts) == len(run.doc["monte_carlo"]["histograms"])
    assert not any(isinstance(c.value, float) and not math.isfinite(c.value) for row in ws.iter_rows() for c in row)


def test_default_workbook_is_written_quickly(runs: dict) -> None:
    run = runs["default"]
    excel.workbook_bytes(run)
    start = time.perf_counter()
    excel.workbook_bytes(run)
    assert time.perf_counter() - start < 1.0


def test_soffice_skip_reason_is_clear() -> None:
    assert "LibreOffice" in lo.needs_soffice.kwargs["reason"]
    assert shutil.which("soffice") is None or lo.SOFFICE is not None


def _input_cell(wb: Any, path: str) -> str:
    """Value cell (column D) of an input, or of a list's first item, found by the label in
    column A of the Inputs sheet (its defined name, ``name[1]`` for the first item)."""
    name = excel.defined_name(path)
    for (label,) in wb["Inputs"].iter_rows(min_col=1, max_col=1):
        if label.value in (name, f"{name}[1]"):
            return f"D{label.row}"
    raise KeyError(path)


def _validations(ws: Any) -> dict[str, Any]:
    """Cell coordinate -> the data validation rule covering it."""
    out = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            for row in rng.cells:
                out[openpyxl.utils.get_column_letter(row[1]) + str(row[0])] = dv
    return out


def test_input_cells_carry_their_validation_rule(runs: dict, built: dict) -> None:
    """Ranges and choices as in the schema (assumptions.SECTIONS / ARRAYS)."""
    wb = openpyxl.load_workbook(io.BytesIO(built["default"][0]))
    rules = _validations(wb["Inputs"])
    checked = 0
    for path, f, value in assumptions.iter_fields(runs["default"].result.case.data):
        cell = _input_cell(wb, path)
        if f.kind in ("float", "int", "floats"):
            dv = rules[cell]
            assert dv.type == ("whole" if f.kind == "int" else "decimal"), path
            assert (dv.operator, float(dv.formula1), float(dv.formula2)) == ("between", f.low, f.high), path
            assert dv.error.startswith(f"{path}: ") and f.rule() in dv.error, path
            assert f.doc in dv.prompt, path
            if f.kind == "floats":  # one rule over every item of the list
                assert str(dv.sqref) == f"D{cell[1:]}:D{int(cell[1:]) + len(value) - 1}", path
        elif f.kind == "str" and f.choices:
            dv = rules[cell]
            assert (dv.type, dv.formula1) == ("list", '"' + ",".join(f.choices) + '"'), path
        else:
            assert cell not in rules, path
            continue
        assert dv.errorStyle == "stop" and dv.showErrorMessage and dv.showInputMessage, path
        checked += 1
    assert checked == len(wb["Inputs"].data_validations.dataValidation) > 60
    example = rules[_input_cell(wb, "revenue.price_decline")]
    assert example.error == "revenue.price_decline: a fraction between 0 and 0.99 [fraction/year]"
    gpus = rules[_input_cell(wb, "site.gpus")]
    assert gpus.error == "site.gpus: a whole number between 1 and 10,000,000 [GPUs]"
    grey = rules[_input_cell(wb, "debt.0.repayment")]
    assert "re-run bizcase" in grey.prompt


@lo.needs_soffice
def test_data_validations_survive_libreoffice(built: dict, recalculated: dict) -> None:
    before = _validations(openpyxl.load_workbook(io.BytesIO(built["default"][0]))["Inputs"])
    after = _validations(recalculated["default"]["Inputs"])
    assert set(after) == set(before)

    def rule(dv: Any) -> tuple:
        bounds = () if dv.type == "list" else (float(dv.formula1), float(dv.formula2))
        return dv.type, dv.formula1 if dv.type == "list" else bounds, dv.errorStyle, dv.error

    assert {c: rule(dv) for c, dv in after.items()} == {c: rule(dv) for c, dv in before.items()}


@lo.needs_soffice
def test_input_checks_catch_a_broken_partner_share(built: dict, recalculated: dict) -> None:
    """Default case: every input check TRUE. One share changed in the file: that check and
    the master check FALSE, the others still TRUE."""
    layout = built["default"][1]
    assert set(layout.input_checks) == {
        "partner_shares_sum_to_1", "deployment_sums_to_1", "spend_profile_sums_to_1",
        "gearing_at_most_1", "anchors_and_public_within_gpus",
    }
    sheet, master = layout.master_check
    good, bad = recalculated["default"], recalculated["default_bad_share"]
    for check, (s, cell) in layout.input_checks.items():
        assert good[s][cell].value is True, check
        assert bad[s][cell].value is (check != "partner_shares_sum_to_1"), check
    assert good[sheet][master].value is True and good["Inputs"]["D3"].value is True
    assert bad[sheet][master].value is False and bad["Inputs"]["D3"].value is False
    assert bad["Cover"].cell(row=13, column=2).value is False


def test_sensitivity_sheet_holds_the_tornado_and_spider(runs: dict) -> None:
    """Values taken from doc["sensitivity"] (analysis.tornado) unchanged, in its order.

    Compared on the workbook as built; the .xlsx file stores 16 significant digits.
    """
    run = runs["default"]
    sens = run.doc["sensitivity"]
    wb, layout = excel.build(run)
    ws = wb["Sensitivity"]
    assert ws["A2"].value == "values: each bar re-evaluates the whole model (debt re-sized), like bizcase run --set"
    assert len(layout.tornado_rows) == len(sens["tornado"]) > 0
    assert layout.tornado_rows == sorted(layout.tornado_rows)
    keys = ("input", "low_value", "high_value", "kpi_low", "kpi_high")
    for row, r in zip(sens["tornado"], layout.tornado_rows, strict=True):
        got = [ws.cell(row=r, column=j).value for j in range(1, 6)]
        assert got == [row[k] if row[k] is not None else "n/a" for k in keys]
        kind = formatting.KPI_KINDS[row["kpi"]]
        assert ws.cell(row=r, column=4).number_format == excel.FMT[kind]
        assert ws.cell(row=r, column=6).value == f'=IF(COUNT(D{r}:E{r})=2,ABS(E{r}-D{r}),"n/a")'
    assert {ws.cell(row=r, column=4).number_format for r in layout.tornado_rows} == {excel.FMT["eur_m"], excel.FMT["pct"]}
    for series, where in zip(sens["spider"]["series"], layout.spider_rows, strict=True):
        assert ws.cell(row=where["values"], column=1).value == series["input"]
        assert [ws.cell(row=where["values"], column=3 + j).value for j in range(len(sens["spider"]["pcts"]))] == series["values"]
        for kpi, values in series["kpis"].items():
            assert [ws.cell(row=where[kpi], column=3 + j).value for j in range(len(values))] == values
    charts = ws._charts
    assert len(charts) == len(sens["kpis"])
    assert all(c.tagname == "barChart" and c.type == "bar" and len(c.series) == 2 for c in charts)
    assert "No sensitivity" in str(excel.build(runs["tiny"])[0]["Sensitivity"]["A3"].value)


@lo.needs_soffice
def test_sensitivity_swing_and_bars_recalculate(runs: dict, built: dict, recalculated: dict) -> None:
    """Swing |high − low| and the bars (KPI − base) from the values, in LibreOffice."""
    sens = runs["default"].doc["sensitivity"]
    ws = recalculated["default"]["Sensitivity"]
    for row, r in zip(sens["tornado"], built["default"][1].tornado_rows, strict=True):
        base = sens["base"][row["kpi"]]
        want = (abs(row["kpi_high"] - row["kpi_low"]), row["kpi_low"] - base, row["kpi_high"] - base)
        got = [ws.cell(row=r, column=j).value for j in (6, 7, 8)]
        assert all(close(g, w, ATOL) for g, w in zip(got, want, strict=True)), (row, got)
    assert len(ws._charts) == len(sens["kpis"])


def test_defined_names_are_unique_and_point_where_their_names_say() -> None:
    # an input and a KPI must never share a defined name (the later one would win)
    case = assumptions.load(DEFAULT)
    run = pipeline.run_case(case, simulations=0)
    wb = openpyxl.load_workbook(io.BytesIO(excel.workbook_bytes(run)))
    inputs = {path.replace(".", "_") for path in case.numeric_paths()}
    kpis = set(run.doc["kpis"])
    assert not inputs & kpis
    for name in inputs:
        assert wb.defined_names[name].attr_text.startswith(("Inputs!", "'Inputs'!")), name
