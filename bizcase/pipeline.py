"""The orchestrator of ``bizcase run``: evaluate, analyse, simulate, assemble, render.

It sequences named steps and does no arithmetic of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bizcase import analysis, results
from bizcase.assumptions import Case
from bizcase.engine import ModelResult, evaluate

Progress = Callable[[int, int], None]


@dataclass
class Run:
    """Everything one run produced.

    Attributes
    ----------
    result : ModelResult
        The base case (one path).
    doc : dict
        The results document (``results.json``).
    monte_carlo : Any
        The Monte Carlo result, or None when not run.
    """

    result: ModelResult
    doc: dict[str, Any]
    monte_carlo: Any = None


def run_case(case: Case, *, simulations: int | None = None, seed: int | None = None, progress: Progress | None = None) -> Run:
    """Evaluate the base case, its break-even price and (optionally) Monte Carlo."""
    unc = case.data["uncertainty"]
    n_sims = unc["simulations"] if simulations is None else simulations
    the_seed = unc["seed"] if seed is None else seed
    base = evaluate(case)
    extra = {"breakeven_price_eur_per_gpu_hour": analysis.breakeven_price(case, base)}
    extra.update(analysis.extra_kpis(case, base))
    mc = None
    if n_sims and n_sims > 0:
        from bizcase import simulate

        mc = simulate.run(case, n_sims, seed=the_seed, sampling=unc["sampling"], progress=progress, base=base)
    doc = results.build(
        base, extra, simulations=int(n_sims or 0), seed=int(the_seed) if n_sims else None,
        sampling=unc["sampling"] if n_sims else None,
    )
    doc["scenarios"] = analysis.scenario_table(case, current_kpis=doc["kpis"])
    doc["sensitivity"] = analysis.tornado(case)
    if mc is not None:
        doc["monte_carlo"] = results.clean(mc.summary)
    return Run(base, doc, mc)


def render(run: Run, stem: str, *, pdf: bool = True) -> dict[str, bytes]:
    """Every output file of a run as bytes, by file name."""
    files: dict[str, bytes] = {
        "results.json": (json.dumps(run.doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    }
    # imported when rendering: matplotlib and openpyxl are slow to import
    from bizcase import excel, report

    files[f"{stem}.xlsx"] = excel.workbook_bytes(run)
    html = report.html_bytes(run)
    files[f"{stem}.html"] = html
    if pdf:
        files[f"{stem}.pdf"] = report.pdf_bytes(html)
    return files
