"""The CLI end to end through click's CliRunner: success paths of run, validate and init."""

from __future__ import annotations

import json
import math

from click.testing import CliRunner

from bizcase.cli import main
from bizcase.results import KPI_ORDER
from tests.conftest import DEFAULT, TINY


def test_run_writes_results_with_every_kpi_and_passing_checks(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(DEFAULT), "--out", str(out), "--simulations", "0", "--no-pdf"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert set(KPI_ORDER) <= set(doc["kpis"])
    assert all(c["passed"] for c in doc["checks"]), doc["checks"]
    for key in ("bizcase_version", "assumptions_sha256", "scenario", "seed", "simulations", "sampling", "utc_timestamp", "python_version", "numpy_version"):
        assert key in doc["manifest"]
    assert len(doc["annual"]) == 17 and doc["annual"][0]["year"] == 2026
    assert {"name", "share", "contributions_eur", "distributions_eur", "irr", "npv_eur", "moic", "peak_exposure_eur", "payback_year"} <= set(doc["partners"][0])
    assert "Project NPV" in result.output and "Integrity checks: 7/7 passed" in result.output


def test_run_json_prints_the_results_and_set_overrides(tmp_path):
    result = CliRunner().invoke(main, [
        "run", str(TINY), "--out", str(tmp_path), "--simulations", "0", "--no-pdf", "--json",
        "--set", "revenue.launch_price_eur_per_gpu_hour=2.0",
    ])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # tiny plant at EUR 2/GPU-h: revenue 8,760,000 − power 438,000 = EBITDA 8,322,000 a year
    flows = [-11_000_000] + [8_322_000] * 3
    npv = sum(f / 1.1 ** (t + 1) for t, f in enumerate(flows))
    assert math.isclose(doc["kpis"]["project_npv_eur"], npv, rel_tol=1e-9)
    assert doc["manifest"]["overrides"] == {"revenue.launch_price_eur_per_gpu_hour": 2.0}


def test_validate_prints_ok_and_a_summary():
    result = CliRunner().invoke(main, ["validate", str(DEFAULT)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")
    for word in ("capex", "grants", "partners", "horizon"):
        assert word in result.output


def test_init_writes_a_file_that_validates(tmp_path):
    target = tmp_path / "case.toml"
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(target)]).exit_code == 0
    assert runner.invoke(main, ["validate", str(target)]).exit_code == 0
    again = runner.invoke(main, ["init", str(target)])
    assert again.exit_code == 2 and "already exists" in again.output
