"""The ``bizcase`` command: a thin layer over the library.

Exit codes: 0 success, 2 bad input (one message, no traceback, nothing written),
130 interrupted (nothing written).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bizcase import __version__, assumptions, pipeline, results
from bizcase.errors import BizcaseError
from bizcase.formatting import KPI_LABELS, fmt_kpi
from bizcase.outputs import prepare_folder, write_all
from bizcase.resources import assumptions_dir, default_assumptions

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class BizcaseGroup(click.Group):
    """Turns bizcase errors into one line on stderr and exit 2; Ctrl-C into exit 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BizcaseError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted: nothing was written", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise BizcaseError(f"--set {item!r}: write PATH=VALUE, e.g. --set revenue.price_decline=0.25")
        path, _, text = item.partition("=")
        out[path.strip()] = assumptions.parse_value(text.strip())
    return out


def _load(file: str | None, scenario: str | None = None, sets: tuple[str, ...] = ()) -> assumptions.Case:
    path = Path(file) if file else default_assumptions()
    return assumptions.load(path, scenario=scenario, values=_parse_sets(sets) or None)


def kpi_table(kpis: dict[str, Any]) -> str:
    """A readable two-column KPI table."""
    rows = [(KPI_LABELS.get(k, k), fmt_kpi(k, v)) for k, v in kpis.items()]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"  {label:<{width}}  {value:>18}" for label, value in rows)


@click.group(cls=BizcaseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bizcase")
def main() -> None:
    """bizcase: the business case of a consortium-built AI gigafactory.

    Assumptions (TOML) -> cash-flow engine -> Monte Carlo -> Excel workbook and HTML/PDF pack.
    """


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(), help="Output folder [default: reports/<project slug>/].")
@click.option("--scenario", help="Apply the overlay [scenarios.NAME] of the file.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override an input by dotted path (repeatable).")
@click.option("--simulations", type=click.IntRange(0, 10_000_000), help="Monte Carlo paths (0 skips Monte Carlo) [default: the file's].")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Random seed [default: the file's].")
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout instead of the KPI table.")
@click.option("--no-pdf", is_flag=True, help="Skip the PDF twin of the investor pack.")
def run(file: str | None, out_dir: str | None, scenario: str | None, sets: tuple[str, ...],
        simulations: int | None, seed: int | None, as_json: bool, no_pdf: bool) -> None:
    """Run the business case of FILE [default: assumptions/gigafactory.toml] and write its reports."""
    case = _load(file, scenario, sets)
    stem = results.slug(case.data["project"]["name"])
    folder = Path(out_dir) if out_dir else Path("reports") / stem
    prepare_folder(folder)
    progress = None
    bar = None
    n_sims = case.data["uncertainty"]["simulations"] if simulations is None else simulations
    if n_sims and not as_json and sys.stderr.isatty():
        bar = click.progressbar(length=n_sims, label="Monte Carlo", file=sys.stderr)
        bar.__enter__()

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.pos)

    try:
        outcome = pipeline.run_case(case, simulations=simulations, seed=seed, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    files = pipeline.render(outcome, stem, pdf=not no_pdf)
    written = write_all(folder, files)
    if as_json:
        click.echo(json.dumps(outcome.doc, indent=2, ensure_ascii=False))
        return
    doc = outcome.doc
    click.echo(f"{doc['project']} — scenario: {case.scenario}")
    click.echo(kpi_table(doc["kpis"]))
    if "monte_carlo" in doc:
        mc = doc["monte_carlo"]
        click.echo(f"  Monte Carlo: {mc.get('simulations', n_sims):,} paths; "
                   f"P(project NPV < 0) = {fmt_kpi('project_irr', mc.get('prob_project_npv_negative'))}; "
                   f"P(covenant breach) = {fmt_kpi('project_irr', mc.get('prob_dscr_covenant_breach'))}")
    failed = [c["name"] for c in doc["checks"] if not c["passed"]]
    click.echo(f"  Integrity checks: {len(doc['checks']) - len(failed)}/{len(doc['checks'])} passed" + (f" (failed: {', '.join(failed)})" if failed else ""))
    for path in written:
        click.echo(f"  wrote {path}")


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--scenario", help="Also apply this scenario.")
def validate(file: str | None, scenario: str | None) -> None:
    """Check an assumptions file; print "ok" and a summary of the case."""
    case = _load(file, scenario)
    d = case.data
    from bizcase.engine import evaluate

    k = evaluate(case).kpis
    click.echo(f"ok: {case.file}")
    click.echo(f"  project     {d['project']['name']}")
    click.echo(f"  horizon     {d['project']['start_year']}–{d['project']['start_year'] + case.n_periods - 1} "
               f"({d['project']['construction_years']} construction + {d['project']['operating_years']} operating years)")
    click.echo(f"  capex       {fmt_kpi('total_capex_eur', float(k['total_capex_eur'][0]))} initial")
    click.echo(f"  grants      {fmt_kpi('grants_eur', float(k['grants_eur'][0]))} from {len(d['grants'])} grant(s)")
    click.echo("  partners    " + ", ".join(f"{p['name']} {p['share']:.0%}" for p in d["partners"]))
    click.echo(f"  scenarios   {', '.join(case.scenario_names) or 'none'}")


@main.command()
@click.argument("target", type=click.Path(dir_okay=False), default="assumptions.toml")
@click.option("--blackwell", is_flag=True, help="Start from the Blackwell-class variant.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(target: str, blackwell: bool, force: bool) -> None:
    """Write a starting assumptions file (the sourced default case) to TARGET."""
    src = assumptions_dir() / ("gigafactory-blackwell.toml" if blackwell else "gigafactory.toml")
    dest = Path(target)
    if dest.exists() and not force:
        raise BizcaseError(f"{dest}: already exists (use --force to overwrite)")
    write_all(dest.parent if str(dest.parent) else Path("."), {dest.name: src.read_bytes()})
    click.echo(f"wrote {dest}")


def _kpi_grid(header: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Rows of labels with one right-aligned column per header."""
    label_width = max([len(r[0]) for r in rows] + [len(header[0])])
    widths = [max([len(h)] + [len(r[1][i]) for r in rows]) for i, h in enumerate(header[1:])]
    lines = ["  " + header[0].ljust(label_width) + "".join(f"  {h:>{w}}" for h, w in zip(header[1:], widths, strict=True))]
    for label, cells in rows:
        lines.append("  " + label.ljust(label_width) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def _parse_target(text: str) -> tuple[str, float]:
    kpi, sep, value = text.partition("=")
    if not sep or not kpi.strip() or not value.strip():
        raise BizcaseError(f"--target {text!r}: write KPI=VALUE, e.g. --target project_npv_eur=0 or --target equity_irr=0.12")
    raw = value.strip()
    scale = 1.0
    if raw.endswith("%"):
        raw, scale = raw[:-1].strip(), 0.01
    parsed = assumptions.parse_value(raw)
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        raise BizcaseError(f"--target {text!r}: {value.strip()!r} is not a number")
    return kpi.strip(), float(parsed) * scale


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override an input by dotted path (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {scenario, kpis} instead of the table.")
def scenarios(file: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """KPIs of the base case and of every [scenarios.*] overlay of FILE, side by side."""
    from bizcase import analysis

    case = _load(file, None, sets)
    table = analysis.scenario_table(case)
    if as_json:
        click.echo(json.dumps(table, indent=2, ensure_ascii=False))
        return
    names = list(table[0]["kpis"])
    rows = [(KPI_LABELS.get(k, k), [fmt_kpi(k, entry["kpis"].get(k)) for entry in table]) for k in names]
    click.echo(f"{case.data['project']['name']} — scenarios")
    click.echo(_kpi_grid(["KPI", *[entry["scenario"] for entry in table]], rows))


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, metavar="PATH", help="Vary this input by ± --pct of its base (repeatable) [default: each uncertain input at its P10 and P90].")
@click.option("--pct", type=click.FloatRange(0, 100, min_open=True), help="Change of each chosen input [percent of base; default 10].")
@click.option("--scenario", help="Apply the overlay [scenarios.NAME] of the file.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override an input by dotted path (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print tornado rows, spider data and base KPIs as JSON.")
def sensitivity(file: str | None, inputs: tuple[str, ...], pct: float | None, scenario: str | None,
                sets: tuple[str, ...], as_json: bool) -> None:
    """One-at-a-time sensitivity (tornado) of project NPV and equity IRR."""
    from bizcase import analysis

    case = _load(file, scenario, sets)
    result = analysis.tornado(case, list(inputs) or None, pct)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    how = "P10 / P90 of each uncertain input" if result["method"] == "p10_p90" else f"± {result['pct']:g} % of base"
    click.echo(f"{case.data['project']['name']} — sensitivity ({how}); debt re-sized for each value")
    if not result["tornado"]:
        click.echo("  no inputs to vary: the file has no [uncertainty.variables]; name some with --input PATH")
        return
    for kpi in result["kpis"]:
        click.echo(f"\n{KPI_LABELS.get(kpi, kpi)} (base {fmt_kpi(kpi, result['base'][kpi])}), by swing")
        rows = []
        for r in (r for r in result["tornado"] if r["kpi"] == kpi):
            swing = None if r["kpi_low"] is None or r["kpi_high"] is None else abs(r["kpi_high"] - r["kpi_low"])
            rows.append((r["input"], [f"{r['low_value']:.6g}", f"{r['high_value']:.6g}", fmt_kpi(kpi, r["kpi_low"]),
                                      fmt_kpi(kpi, r["kpi_high"]), fmt_kpi(kpi, swing)]))
        click.echo(_kpi_grid(["input", "low", "high", "KPI at low", "KPI at high", "swing"], rows))


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--input", "path", required=True, metavar="PATH", help="The input to solve for, e.g. utilization.plateau.")
@click.option("--target", required=True, metavar="KPI=VALUE", help="The KPI and the value to reach, e.g. project_npv_eur=0 or equity_irr=0.12.")
@click.option("--scenario", help="Apply the overlay [scenarios.NAME] of the file.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override an input by dotted path (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print {input, value, kpi, target, achieved} as JSON.")
def breakeven(file: str | None, path: str, target: str, scenario: str | None, sets: tuple[str, ...], as_json: bool) -> None:
    """The value of an input at which a KPI reaches a target, within the input's valid range."""
    from bizcase import analysis

    kpi, value = _parse_target(target)
    case = _load(file, scenario, sets)
    solved = analysis.breakeven(case, path, kpi, value)
    if as_json:
        click.echo(json.dumps(solved.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{case.data['project']['name']} — scenario: {case.scenario}")
    click.echo(f"  {path} = {solved.value!r} gives {KPI_LABELS.get(kpi, kpi)} = {fmt_kpi(kpi, solved.achieved)} "
               f"(target {fmt_kpi(kpi, solved.target)}; base value {case.get(path)!r})")
    click.echo(f"  reproduce: bizcase run --set {path}={solved.value!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
