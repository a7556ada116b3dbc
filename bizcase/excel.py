"""The live-formula workbook: one run laid out as a FAST-style financial model (.xlsx).

The workbook is a model, not a dump. Every line item of :mod:`bizcase.engine` is a row of
Excel formulas over the Inputs (by defined name), the Timeline and earlier rows and
columns; recalculated in a spreadsheet engine it reproduces the engine's numbers.

Layout conventions
------------------
- A line is a row, a period a column. On every timeline and calculation sheet, column A
  holds the label, B the unit, C the row total (flows) or a scalar calculation, and the
  periods run from column D (period 0) to the right. Rows 1–3 are the header (title,
  calendar year, operating year); panes are frozen below and right of them.
- Each row holds one formula copied across (relative references), so a row reads as one
  rule. The first column of a recursion (opening balances, loss pools, cumulative sums)
  starts from zero. A row that looks one column ahead (``{next:...}``: the DSRA target,
  from next year's debt service, which does not depend on it) has its own last column.
- Inputs are named by their dotted path with dots replaced by underscores
  (``revenue_launch_price_eur_per_gpu_hour``); KPI cells by their ``results.json`` key.
- Input cells are blue on light yellow; inputs that shape the workbook (number of
  periods, cohorts, eligible capex classes, repayment profile) are grey: change them in
  the assumptions file and re-run bizcase.
- Money is nominal EUR and shown in EUR millions; cash in is positive in flow lines,
  cost and capex lines are positive amounts that are subtracted, as in the engine.
- ``=NPV(rate, row)`` discounts the first period by one year, so it values a row at
  1 January of ``start_year`` like the engine's year-end convention; for mid-year
  discounting it is multiplied by ``(1 + rate)^0.5``.
- The debt schedule is a formula of the inputs. The engine sizes it once in Python
  (``engine.size_debt``); the workbook writes the same rules as formulas, so changing
  gearing, rates or prices in the workbook re-sizes the debt (including sculpting).
- Input cells carry data validation (range, whole number or list of choices, with the
  key, unit and rule in the message); rules across several inputs (shares summing to 1,
  total gearing, anchors and public access within the fleet) are formulas in the "Input
  checks" block of the Checks sheet, part of the master check.
- Monte Carlo, scenario and sensitivity (tornado, spider) results are values: they come
  from many re-evaluations of the model and cannot be formulas of one set of inputs.

The writer computes nothing new (STYLE rule 14): every number is either an input, a
formula, or a value taken from the run.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bizcase import __version__, assumptions, formatting

#: First period column (D) and the columns before it.
FIRST_COL = 4
LABEL_COL, UNIT_COL, VALUE_COL = 1, 2, 3
HEADER_ROWS = 3
BAND = 18  # rows per band of charts (8 cm high)

#: Kinds of value -> Excel number format (shared with the HTML pack via formatting).
FMT = {
    **formatting.EXCEL_FORMATS,
    "flag": "0",
    "index": "0",
    "factor": "0.0000",
    "text": "@",
}

#: Functions a formula may not use (volatile or version-specific).
FORBIDDEN_FUNCTIONS = ("OFFSET", "INDIRECT", "XLOOKUP", "LET", "NOW", "TODAY", "RAND", "RANDBETWEEN", "CELL", "INFO")

INPUT_FONT = Font(color="0000FF")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
SHAPE_FILL = PatternFill("solid", fgColor="E7E6E6")
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_FONT = Font(bold=True, color="FFFFFF")
SECTION_FONT = Font(bold=True, color="1F3864")
TITLE_FONT = Font(bold=True, size=14, color="1F3864")
TOTAL_FONT = Font(bold=True)
KPI_FILL = PatternFill("solid", fgColor="E2EFDA")
NOTE_FONT = Font(italic=True, color="595959")
THIN_TOP = Border(top=Side(style="thin", color="808080"))

SHEETS = (
    "Cover", "Inputs", "Timeline", "Operations", "Capex", "Tax", "Financing", "Cash flow",
    "Partners", "Outputs", "Checks", "Monte Carlo", "Scenarios", "Sensitivity",
)
CALC_SHEETS = ("Timeline", "Operations", "Capex", "Tax", "Financing", "Cash flow", "Partners")

#: Why a KPI is a value rather than a formula.
VALUE_NOTES = {
    "breakeven_price_eur_per_gpu_hour": "value: launch price solved by re-evaluating the whole model (debt sizing included) until project NPV = 0",
}

#: Inputs that shape the workbook (rows, columns, which rows add up): not live in Excel.
SHAPE_INPUTS = {
    "project.construction_years", "project.operating_years", "project.currency",
}
SHAPE_ARRAY_KEYS = {"eligible", "repayment"}

_TOKEN = re.compile(r"\{(?:(prev|next|row|s|last):)?([A-Za-z0-9_]+)\}")
_A1_LIKE = re.compile(r"^[A-Za-z]{1,3}[0-9]+$")
_R1C1_LIKE = re.compile(r"^[RrCc]([0-9]*|[0-9]*[Cc][0-9]*)$")
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


# --- public API -----------------------------------------------------------------------------


@dataclass
class Layout:
    """Where the model sits in the workbook, for tests and tools.

    Attributes
    ----------
    lines : dict
        Engine line name -> (sheet, row) of the row holding it; periods run from column
        ``first_col`` for ``n_periods`` columns.
    totals : dict
        Engine line name -> (sheet, cell) of its row total (column C).
    kpis : dict
        KPI name -> (sheet, cell).
    partners : list of dict
        Per partner: result key -> (sheet, cell).
    checks : dict
        Check name -> (sheet, cell of the pass flag).
    input_checks : dict
        Input check name -> (sheet, cell of the pass flag): rules across several inputs.
    tornado_rows : list of int
        Row of the Sensitivity sheet holding each row of ``doc["sensitivity"]["tornado"]``,
        in order (columns A–E: input, low value, high value, KPI at low, KPI at high).
    spider_rows : list of dict
        Per spider series: "values" or a KPI name -> row of the Sensitivity sheet holding
        it (columns C onwards, one per change of ``doc["sensitivity"]["spider"]["pcts"]``).
    master_check : tuple
        (sheet, cell) of the master check.
    first_col, n_periods : int
    """

    lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    totals: dict[str, tuple[str, str]] = field(default_factory=dict)
    kpis: dict[str, tuple[str, str]] = field(default_factory=dict)
    partners: list[dict[str, tuple[str, str]]] = field(default_factory=list)
    checks: dict[str, tuple[str, str]] = field(default_factory=dict)
    input_checks: dict[str, tuple[str, str]] = field(default_factory=dict)
    tornado_rows: list[int] = field(default_factory=list)
    spider_rows: list[dict[str, int]] = field(default_factory=list)
    master_check: tuple[str, str] = ("Checks", "C1")
    first_col: int = FIRST_COL
    n_periods: int = 0


def workbook_bytes(run: Any) -> bytes:
    """The workbook of a run (:class:`bizcase.pipeline.Run`) as .xlsx bytes."""
    wb, _ = build(run)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build(run: Any) -> tuple[Workbook, Layout]:
    """Build the workbook of a run and say where everything is."""
    return _Writer(run).write()


def defined_name(path: str) -> str:
    """The defined name of a dotted input path: dots become underscores.

    Raises
    ------
    ValueError
        If the result could be read as a cell reference or is not a valid name.
    """
    name = path.replace(".", "_")
    if not _NAME_OK.match(name) or _A1_LIKE.match(name) or _R1C1_LIKE.match(name) or name.upper() in ("TRUE", "FALSE"):
        raise ValueError(f"{path!r} cannot be an Excel defined name")
    return name


# --- the model as rows ----------------------------------------------------------------------

Template = str | Callable[[int], str]


@dataclass
class _Row:
    sheet: str
    row: int
    key: str
    label: str
    unit: str
    kind: str
    formula: Template | None = None  # per period
    scalar: str | None = None  # column C
    total: bool = False
    engine: str | None = None
    style: str = ""  # "", "section", "total"


class _Model:
    """Rows of the calculation sheets, defined first, rendered once all positions are known."""

    def __init__(self, n_periods: int):
        self.n_periods = n_periods
        self.rows: dict[str, _Row] = {}
        self.order: dict[str, list[_Row]] = {s: [] for s in CALC_SHEETS}
        self.next_row = {s: HEADER_ROWS + 2 for s in CALC_SHEETS}

    def _add(self, r: _Row) -> _Row:
        if r.key in self.rows:
            raise ValueError(f"duplicate row {r.key}")
        self.rows[r.key] = r
        self.order[r.sheet].append(r)
        self.next_row[r.sheet] = r.row + 1
        return r

    def section(self, sheet: str, title: str) -> None:
        row = self.next_row[sheet] + (1 if self.order[sheet] else 0)
        self._add(_Row(sheet, row, f"_section_{sheet}_{row}", title, "", "", style="section"))

    def line(self, sheet: str, key: str, label: str, unit: str, kind: str, formula: Template, *, total: bool = False, engine: bool = True, style: str = "") -> None:
        self._add(_Row(sheet, self.next_row[sheet], key, label, unit, kind, formula=formula, total=total, engine=key if engine else None, style=style))

    def scalar(self, sheet: str, key: str, label: str, unit: str, kind: str, formula: str) -> None:
        self._add(_Row(sheet, self.next_row[sheet], key, label, unit, kind, scalar=formula))

    # references ---------------------------------------------------------------------------

    def col(self, t: int) -> str:
        return get_column_letter(FIRST_COL + t)

    def ref(self, prefix: str | None, key: str, sheet: str, t: int | None) -> str:
        r = self.rows[key]
        where = "" if r.sheet == sheet else quote_sheetname(r.sheet) + "!"
        if prefix == "s":
            return f"{where}$C${r.row}"
        if prefix == "row":
            return f"{where}${self.col(0)}${r.row}:${self.col(self.n_periods - 1)}${r.row}"
        if prefix == "last":
            return f"{where}${self.col(self.n_periods - 1)}${r.row}"
        if t is None:
            raise ValueError(f"{{{key}}} needs a period")
        if prefix == "prev":
            if t == 0:
                raise ValueError(f"{{prev:{key}}} in period 0")
            t -= 1
        if prefix == "next":
            if t == self.n_periods - 1:
                raise ValueError(f"{{next:{key}}} in the last period")
            t += 1
        return f"{where}{self.col(t)}{r.row}"

    def resolve(self, template: str, sheet: str, t: int | None = None) -> str:
        return _TOKEN.sub(lambda m: self.ref(m.group(1), m.group(2), sheet, t), template)


def _sum(terms: Iterable[str], empty: str = "0") -> str:
    items = list(terms)
    return "+".join(items) if items else empty


def _recur(first: str, rest: str) -> Callable[[int], str]:
    """A row whose period 0 differs from the rest (recursions over the previous column)."""
    return lambda t: first if t == 0 else rest


def _ahead(rest: str, last: str, n_periods: int) -> Callable[[int], str]:
    """A row that looks one column ahead (``{next:...}``), with its own last period.

    Not circular as long as the row ahead does not depend on this one.
    """
    return lambda t: rest if t < n_periods - 1 else last


def _mid(rate: str) -> str:
    """Factor that turns Excel's year-end NPV into the mid-year convention when chosen."""
    return f'IF(project_discounting="mid",(1+{rate})^0.5,1)'


def define_model(case: assumptions.Case, n_periods: int) -> _Model:
    """Every line of :func:`bizcase.engine.evaluate` as a row template, in engine order."""
    data = case.data
    m = _Model(n_periods)
    deployment = data["site"]["deployment"]
    customers = data["customers"]
    grants = data["grants"]
    debts = data["debt"]
    partners = data["partners"]
    K = range(len(deployment))

    # timeline ------------------------------------------------------------------------------
    TL = "Timeline"
    m.section(TL, "Periods")
    m.line(TL, "period", "Period index t", "", "index", _recur("=0", "={prev:period}+1"), engine=False)
    m.line(TL, "year", "Calendar year", "year", "year", "=project_start_year+{period}", engine=False)
    m.line(TL, "opyear", "Operating year y = t − construction years + 1", "", "index", "={period}-project_construction_years+1", engine=False)
    m.line(TL, "constr", "Construction flag", "flag", "flag", "=IF({period}<project_construction_years,1,0)", engine=False)
    m.line(TL, "oper", "Operation flag", "flag", "flag", "=1-{constr}", engine=False)
    m.line(TL, "last", "Last period flag", "flag", "flag", "=IF({period}=project_construction_years+project_operating_years-1,1,0)", engine=False)

    # operations: capacity ----------------------------------------------------------------
    OPS = "Operations"
    m.section(OPS, "Capacity: cohorts go live in operating years 1, 2, …")
    for k in K:
        m.line(OPS, f"cohort_{k}_live", f"Cohort {k + 1} live", "flag", "flag", f"=IF({{period}}>=project_construction_years+{k},1,0)", engine=False)
    m.line(OPS, "live_share", "Share of GPUs live", "fraction", "pct", "=" + _sum(f"INDEX(site_deployment,{k + 1})*{{cohort_{k}_live}}" for k in K), engine=False)
    m.line(OPS, "live_gpus", "Live GPUs", "GPUs", "number", "=site_gpus*{live_share}")
    m.line(OPS, "sellable_gpu_hours", "Sellable GPU-hours", "GPU-h", "number", "={live_gpus}*8760*site_availability", total=True)

    m.section(OPS, "Market price of the fleet (cohort age resets at each refresh)")
    for k in K:
        m.line(OPS, f"cohort_{k}_age", f"Cohort {k + 1} age", "years", "index", f"=IF({{cohort_{k}_live}}=1,MOD({{period}}-(project_construction_years+{k}),capex_compute_life_years),0)", engine=False)
    for k in K:
        m.line(OPS, f"cohort_{k}_price_weight", f"Cohort {k + 1} share × (1 − decline)^age", "fraction", "factor", f"=INDEX(site_deployment,{k + 1})*{{cohort_{k}_live}}*(1-revenue_price_decline)^{{cohort_{k}_age}}", engine=False)
    m.line(OPS, "fleet_price_factor", "Fleet price factor (capacity-weighted)", "ratio", "factor", "=IF({live_share}>0,(" + _sum(f"{{cohort_{k}_price_weight}}" for k in K) + ")/{live_share},0)", engine=False)
    m.line(OPS, "launch_price", "Launch price of the year's generation", "EUR/GPU-h", "eur_per_unit", "=revenue_launch_price_eur_per_gpu_hour*(1+revenue_launch_price_change)^({opyear}-1)", engine=False)
    m.line(OPS, "market_price_eur_per_gpu_hour", "Market price of the fleet", "EUR/GPU-h", "eur_per_unit", "=IF({oper}=1,{launch_price}*{fleet_price_factor},0)")

    m.section(OPS, "Demand: public access, anchor customers (take-or-pay), market")
    m.line(OPS, "public_gpu_hours", "Public-access GPU-hours", "GPU-h", "number", "=public_access_share*{sellable_gpu_hours}", total=True)
    for i, _c in enumerate(customers):
        n = f"customers_{i}"
        m.line(OPS, f"{n}_active", f"Customer {i + 1} contract active", "flag", "flag", f"=IF(AND({{opyear}}>={n}_first_operating_year,{{opyear}}<{n}_first_operating_year+{n}_years),1,0)", engine=False)
        m.line(OPS, f"{n}_hours", f"Customer {i + 1} contracted GPU-hours", "GPU-h", "number", f"={{{n}_active}}*{n}_gpus*8760*site_availability", total=True, engine=False)
        m.line(OPS, f"{n}_price", f"Customer {i + 1} contract price", "EUR/GPU-h", "eur_per_unit", f"={n}_price_eur_per_gpu_hour*(1+{n}_escalation)^({{opyear}}-{n}_first_operating_year)", engine=False)
        m.line(OPS, f"{n}_revenue", f"Customer {i + 1} contracted revenue", "EUR", "eur_m", f"={{{n}_hours}}*{{{n}_price}}", total=True, engine=False)
    m.line(OPS, "anchor_hours_contracted", "Anchor GPU-hours contracted", "GPU-h", "number", "=" + _sum(f"{{customers_{i}_hours}}" for i in range(len(customers))), total=True, engine=False)
    m.line(OPS, "anchor_revenue_contracted", "Anchor revenue contracted", "EUR", "eur_m", "=" + _sum(f"{{customers_{i}_revenue}}" for i in range(len(customers))), total=True, engine=False)
    m.line(OPS, "room_gpu_hours", "GPU-hours after public access", "GPU-h", "number", "={sellable_gpu_hours}-{public_gpu_hours}", total=True, engine=False)
    m.line(OPS, "anchor_scale", "Anchor scale (contracts capped at capacity)", "ratio", "factor", "=MIN(IF({anchor_hours_contracted}>{room_gpu_hours},{room_gpu_hours}/{anchor_hours_contracted},1),1)", engine=False)
    m.line(OPS, "anchor_gpu_hours", "Anchor GPU-hours", "GPU-h", "number", "={anchor_hours_contracted}*{anchor_scale}", total=True)
    m.line(OPS, "anchor_revenue_eur", "Anchor revenue", "EUR", "eur_m", "={anchor_revenue_contracted}*{anchor_scale}", total=True)
    m.line(OPS, "market_capacity_gpu_hours", "Market capacity", "GPU-h", "number", "={room_gpu_hours}-{anchor_gpu_hours}", total=True)
    m.line(
        OPS, "market_utilization", "Market utilization (logistic ramp, clipped to 0–1)", "fraction", "pct",
        "=IF({oper}=1,MAX(0,MIN(1,utilization_start+(utilization_plateau-utilization_start)"
        "/(1+EXP(MIN(700,-utilization_steepness*({opyear}-utilization_midpoint_year)))))),0)",
    )
    m.line(OPS, "market_gpu_hours", "Market GPU-hours sold", "GPU-h", "number", "={market_capacity_gpu_hours}*{market_utilization}", total=True)
    m.line(OPS, "market_revenue_eur", "Market revenue", "EUR", "eur_m", "={market_gpu_hours}*{market_price_eur_per_gpu_hour}", total=True)
    m.line(OPS, "public_revenue_eur", "Public-access revenue", "EUR", "eur_m", "={public_gpu_hours}*{market_price_eur_per_gpu_hour}*(1-public_access_price_discount)", total=True)
    m.line(OPS, "revenue_eur", "Revenue", "EUR", "eur_m", "={anchor_revenue_eur}+{public_revenue_eur}+{market_revenue_eur}", total=True, style="total")
    m.line(OPS, "gpu_hours_sold", "GPU-hours sold", "GPU-h", "number", "={anchor_gpu_hours}+{public_gpu_hours}+{market_gpu_hours}", total=True)
    m.line(OPS, "overall_utilization", "Overall utilization (anchor hours count as used)", "fraction", "pct", "=IF({sellable_gpu_hours}>0,{gpu_hours_sold}/{sellable_gpu_hours},0)")

    m.section(OPS, "Power")
    m.line(OPS, "power_mwh", "Electricity", "MWh", "number", "={live_gpus}*site_it_kw_per_gpu*(opex_idle_power_share+(1-opex_idle_power_share)*{overall_utilization})*site_pue*8760/1000", total=True)
    m.line(OPS, "power_escalation", "Power price escalation index", "ratio", "factor", "=IF({oper}=1,(1+opex_power_price_escalation)^({opyear}-1),0)", engine=False)
    m.line(OPS, "market_power_price", "Market power price", "EUR/MWh", "eur_per_unit", "=opex_power_price_eur_per_mwh*{power_escalation}", engine=False)
    m.line(OPS, "power_price_eur_per_mwh", "Blended power price (PPA and market)", "EUR/MWh", "eur_per_unit", "=opex_ppa_share*opex_ppa_price_eur_per_mwh*{power_escalation}+(1-opex_ppa_share)*{market_power_price}")
    m.line(OPS, "power_cost_eur", "Power cost", "EUR", "eur_m", "={power_mwh}*{power_price_eur_per_mwh}", total=True)

    m.section(OPS, "Operating costs and EBITDA")
    m.line(OPS, "inflation_index", "Inflation index", "ratio", "factor", "=IF({oper}=1,(1+project_inflation)^({opyear}-1),0)", engine=False)
    m.line(OPS, "staff_cost_eur", "Staff", "EUR", "eur_m", "=opex_staff_eur_per_year*{inflation_index}", total=True)
    m.line(OPS, "maintenance_cost_eur", "Maintenance", "EUR", "eur_m", "=opex_maintenance_share_of_capex*{s:initial_capex_total}*{inflation_index}", total=True)
    m.line(OPS, "insurance_cost_eur", "Insurance", "EUR", "eur_m", "=opex_insurance_share_of_capex*{s:initial_capex_total}*{inflation_index}", total=True)
    m.line(OPS, "software_cost_eur", "Software", "EUR", "eur_m", "=opex_software_eur_per_gpu_year*{live_gpus}*{inflation_index}", total=True)
    m.line(OPS, "sga_cost_eur", "SG&A", "EUR", "eur_m", "=opex_sga_share_of_revenue*{revenue_eur}", total=True)
    m.line(OPS, "opex_eur", "Operating costs", "EUR", "eur_m", "={power_cost_eur}+{staff_cost_eur}+{maintenance_cost_eur}+{insurance_cost_eur}+{software_cost_eur}+{sga_cost_eur}", total=True, style="total")
    m.line(OPS, "ebitda_eur", "EBITDA", "EUR", "eur_m", "={revenue_eur}-{opex_eur}", total=True, style="total")

    # capex --------------------------------------------------------------------------------
    CPX = "Capex"
    m.section(CPX, "Facility")
    m.scalar(CPX, "capex_factor", "Capex factor (1 + contingency) × (1 + overrun)", "ratio", "factor", "=(1+capex_contingency)*(1+capex_overrun)")
    m.scalar(CPX, "it_mw", "IT load", "MW", "decimal", "=site_gpus*site_it_kw_per_gpu/1000")
    m.scalar(CPX, "facility_total", "Facility capex incl. grid and land", "EUR", "eur_m", "=({s:it_mw}*capex_facility_eur_per_mw+capex_grid_and_land_eur)*{s:capex_factor}")
    m.line(CPX, "facility_capex_eur", "Facility capex (by spend profile)", "EUR", "eur_m", "=IF({constr}=1,{s:facility_total}*INDEX(capex_spend_profile,{period}+1),0)", total=True)
    m.section(CPX, "Compute: each cohort is bought the year before it goes live and replaced every compute life")
    for k in K:
        m.line(CPX, f"cohort_{k}_initial_flag", f"Cohort {k + 1} initial purchase", "flag", "flag", f"=IF({{period}}+1=project_construction_years+{k},1,0)", engine=False)
        m.line(
            CPX, f"cohort_{k}_refresh_flag", f"Cohort {k + 1} refresh purchase", "flag", "flag",
            f"=IF(AND({{period}}+1>project_construction_years+{k},MOD({{period}}+1-(project_construction_years+{k}),capex_compute_life_years)=0,{{last}}=0),1,0)",
            engine=False,
        )
        m.line(CPX, f"cohort_{k}_initial_capex", f"Cohort {k + 1} initial capex", "EUR", "eur_m", f"=IF({{cohort_{k}_initial_flag}}=1,INDEX(site_deployment,{k + 1})*site_gpus*capex_compute_eur_per_gpu*{{s:capex_factor}},0)", total=True, engine=False)
        m.line(CPX, f"cohort_{k}_refresh_capex", f"Cohort {k + 1} refresh capex", "EUR", "eur_m", f"=IF({{cohort_{k}_refresh_flag}}=1,INDEX(site_deployment,{k + 1})*site_gpus*capex_compute_eur_per_gpu*(1+capex_compute_cost_change)^{{period}}*{{s:capex_factor}},0)", total=True, engine=False)
    m.line(CPX, "compute_initial_capex_eur", "Compute capex, initial", "EUR", "eur_m", "=" + _sum(f"{{cohort_{k}_initial_capex}}" for k in K), total=True)
    m.line(CPX, "refresh_capex_eur", "Compute capex, refresh", "EUR", "eur_m", "=" + _sum(f"{{cohort_{k}_refresh_capex}}" for k in K), total=True)
    m.line(CPX, "initial_capex_eur", "Initial capex", "EUR", "eur_m", "={facility_capex_eur}+{compute_initial_capex_eur}", total=True, style="total")
    m.line(CPX, "capex_eur", "Capex", "EUR", "eur_m", "={initial_capex_eur}+{refresh_capex_eur}", total=True, style="total")
    m.scalar(CPX, "initial_capex_total", "Initial capex, total", "EUR", "eur_m", "=SUM({row:initial_capex_eur})")
    m.section(CPX, "Resale of retired compute: at each refresh the replaced generation is sold at the end of the year")
    for k in K:
        m.line(
            CPX, f"cohort_{k}_last_purchase", f"Cohort {k + 1} purchase cost of the latest generation", "EUR", "eur_m",
            _recur(
                f"={{cohort_{k}_initial_capex}}+{{cohort_{k}_refresh_capex}}",
                f"=IF({{cohort_{k}_initial_flag}}+{{cohort_{k}_refresh_flag}}>0,{{cohort_{k}_initial_capex}}+{{cohort_{k}_refresh_capex}},{{prev:cohort_{k}_last_purchase}})",
            ),
            engine=False,
        )
        m.line(
            CPX, f"cohort_{k}_resale", f"Cohort {k + 1} resale of the retired generation", "EUR", "eur_m",
            _recur("=0", f"=IF({{cohort_{k}_refresh_flag}}=1,capex_compute_resale_share*{{prev:cohort_{k}_last_purchase}},0)"),
            total=True, engine=False,
        )
    m.line(CPX, "compute_resale_eur", "Resale of retired compute", "EUR", "eur_m", "=" + _sum(f"{{cohort_{k}_resale}}" for k in K), total=True, style="total")

    m.section(CPX, "Grants: min(share × eligible capex, cap), received pro rata to eligible spend")
    classes = {"facility": "facility_capex_eur", "compute_initial": "compute_initial_capex_eur", "compute_refresh": "refresh_capex_eur"}
    for g, grant in enumerate(grants):
        n = f"grants_{g}"
        m.line(CPX, f"grant_{g}_eligible", f"Grant {g + 1} eligible capex ({', '.join(grant['eligible'])})", "EUR", "eur_m", "=" + _sum(f"{{{classes[c]}}}" for c in grant["eligible"]), total=True, engine=False)
        m.scalar(CPX, f"grant_{g}_eligible_total", f"Grant {g + 1} eligible capex, total", "EUR", "eur_m", f"=SUM({{row:grant_{g}_eligible}})")
        m.scalar(CPX, f"grant_{g}_rate", f"Grant {g + 1} rate: min(share, cap ÷ eligible)", "fraction", "pct", f"=MIN({n}_share_of_eligible_capex,IF({{s:grant_{g}_eligible_total}}>0,{n}_cap_eur/{{s:grant_{g}_eligible_total}},0))")
        m.line(CPX, f"grant_{g}_eur", f"Grant {g + 1} received", "EUR", "eur_m", f"={{s:grant_{g}_rate}}*{{grant_{g}_eligible}}", total=True)
        m.scalar(CPX, f"grant_{g}_total", f"Grant {g + 1} total", "EUR", "eur_m", f"=SUM({{row:grant_{g}_eur}})")
    m.line(CPX, "grants_eur", "Grants received", "EUR", "eur_m", "=" + _sum(f"{{grant_{g}_eur}}" for g in range(len(grants))), total=True, style="total")
    for c in classes:
        m.scalar(CPX, f"grant_rate_{c}", f"Grant rate on {c.replace('_', ' ')} capex", "fraction", "pct", "=" + _sum(f"{{s:grant_{g}_rate}}" for g, gr in enumerate(grants) if c in gr["eligible"]))
    m.line(CPX, "grants_on_initial_eur", "Grants on initial capex", "EUR", "eur_m", "={s:grant_rate_facility}*{facility_capex_eur}+{s:grant_rate_compute_initial}*{compute_initial_capex_eur}", total=True)

    m.section(CPX, "Depreciation: straight line from go-live; grants reduce the base when chosen")
    reduce = "IF(tax_grants_reduce_asset_base,{s:grant_rate_%s},0)"
    m.scalar(CPX, "facility_base", "Facility depreciable base", "EUR", "eur_m", "=SUM({row:facility_capex_eur})*(1-" + reduce % "facility" + ")")
    m.line(CPX, "facility_depreciation_eur", "Facility depreciation", "EUR", "eur_m", "=IF(AND({period}>=project_construction_years,{period}<project_construction_years+capex_facility_life_years),{s:facility_base}/capex_facility_life_years,0)", total=True)
    for k in K:
        m.line(CPX, f"cohort_{k}_net_cost", f"Cohort {k + 1} purchase net of grants", "EUR", "eur_m", f"={{cohort_{k}_initial_capex}}*(1-{reduce % 'compute_initial'})+{{cohort_{k}_refresh_capex}}*(1-{reduce % 'compute_refresh'})", total=True, engine=False)
        m.line(CPX, f"cohort_{k}_base", f"Cohort {k + 1} depreciable base in service", "EUR", "eur_m", _recur("=0", f"=IF(AND({{cohort_{k}_live}}=1,{{cohort_{k}_age}}=0),{{prev:cohort_{k}_net_cost}},{{prev:cohort_{k}_base}})"), engine=False)
        m.line(CPX, f"cohort_{k}_depreciation", f"Cohort {k + 1} depreciation", "EUR", "eur_m", f"=IF({{cohort_{k}_live}}=1,{{cohort_{k}_base}}/capex_compute_life_years,0)", total=True, engine=False)
    m.line(CPX, "compute_depreciation_eur", "Compute depreciation", "EUR", "eur_m", "=" + _sum(f"{{cohort_{k}_depreciation}}" for k in K), total=True)
    m.line(CPX, "depreciation_eur", "Depreciation", "EUR", "eur_m", "={facility_depreciation_eur}+{compute_depreciation_eur}", total=True, style="total")
    m.section(CPX, "Terminal value: residual share × book value at the end")
    for k in K:
        m.scalar(CPX, f"cohort_{k}_book_end", f"Cohort {k + 1} book value at the end", "EUR", "eur_m", f"={{last:cohort_{k}_base}}*(capex_compute_life_years-1-{{last:cohort_{k}_age}})/capex_compute_life_years")
    m.scalar(CPX, "compute_book_end", "Compute book value at the end", "EUR", "eur_m", "=" + _sum(f"{{s:cohort_{k}_book_end}}" for k in K))
    m.scalar(CPX, "facility_book_end", "Facility book value at the end", "EUR", "eur_m", "={s:facility_base}*MAX(0,capex_facility_life_years-project_operating_years)/capex_facility_life_years")
    m.scalar(CPX, "book_end", "Book value at the end", "EUR", "eur_m", "={s:facility_book_end}+{s:compute_book_end}")
    m.line(CPX, "terminal_value_eur", "Terminal value", "EUR", "eur_m", "=IF({last}=1,capex_residual_value_share*{s:book_end},0)", total=True)

    # tax ----------------------------------------------------------------------------------
    TAX = "Tax"

    def tax_block(prefix: str, profit: str, tax_key: str, pool_key: str, offset_key: str, label: str) -> None:
        # minimum taxation: losses brought forward offset the profit in full up to the
        # threshold and only the given share of the profit above it
        gain = f"MAX({{{profit}}},0)"
        allowance = f"MIN({gain},tax_loss_offset_threshold_eur)+tax_loss_offset_share_above_threshold*MAX({gain}-tax_loss_offset_threshold_eur,0)"
        m.line(TAX, f"{prefix}pool_opening", f"{label}: losses brought forward", "EUR", "eur_m", _recur("=0", f"={{prev:{pool_key}}}"), engine=False)
        m.line(TAX, offset_key, f"{label}: losses offset (up to the threshold in full, above it the share)", "EUR", "eur_m", f"=IF(tax_loss_carry_forward,MIN({{{prefix}pool_opening}},{allowance}),0)", total=True, engine=offset_key == "tax_loss_offset_eur")
        m.line(TAX, f"{prefix}taxable", f"{label}: taxable profit", "EUR", "eur_m", f"={gain}-{{{offset_key}}}", total=True, engine=False)
        m.line(TAX, pool_key, f"{label}: losses carried forward", "EUR", "eur_m", f"=IF(tax_loss_carry_forward,{{{prefix}pool_opening}}-{{{offset_key}}}+MAX(-{{{profit}}},0),0)", engine=pool_key == "tax_loss_pool_eur")
        m.line(TAX, tax_key, f"{label}: tax", "EUR", "eur_m", f"=tax_rate*{{{prefix}taxable}}", total=True, style="total")

    m.section(TAX, "Unlevered tax (project view): on EBIT = EBITDA − depreciation + resale of retired compute (fully depreciated)")
    m.line(TAX, "ebit_eur", "EBIT", "EUR", "eur_m", "={ebitda_eur}-{depreciation_eur}+{compute_resale_eur}", total=True)
    tax_block("unlevered_", "ebit_eur", "unlevered_tax_eur", "unlevered_loss_pool", "unlevered_loss_offset", "Unlevered")
    m.section(TAX, "Tax (levered): on EBT = EBIT − interest paid − debt fees − depreciation of interest capitalised during construction")
    m.scalar(TAX, "idc_base", "Interest capitalised during construction, depreciable with the facility (IAS 23; grants do not reduce it)", "EUR", "eur_m", "=IF(tax_capitalise_construction_interest,SUM({row:interest_capitalised_eur}),0)")
    m.line(TAX, "idc_depreciation_eur", "Depreciation of capitalised interest (levered tax only)", "EUR", "eur_m", "=IF(AND({period}>=project_construction_years,{period}<project_construction_years+capex_facility_life_years),{s:idc_base}/capex_facility_life_years,0)", total=True)
    m.line(TAX, "ebt_eur", "EBT", "EUR", "eur_m", "={ebit_eur}-{interest_paid_eur}-{debt_fees_eur}-{idc_depreciation_eur}", total=True)
    tax_block("levered_", "ebt_eur", "tax_eur", "tax_loss_pool_eur", "tax_loss_offset_eur", "Levered")

    # financing -------------------------------------------------------------------------------
    FIN = "Financing"
    m.section(FIN, "Debt sizing basis (each tranche: gearing × (initial capex − grants on it))")
    m.line(FIN, "funding_need", "Initial capex net of grants on it", "EUR", "eur_m", "={initial_capex_eur}-{grants_on_initial_eur}", total=True, engine=False)
    m.line(FIN, "cfads_proxy", "CFADS proxy: max(EBITDA − unlevered tax, 0)", "EUR", "eur_m", "=MAX({ebitda_eur}-{unlevered_tax_eur},0)", total=True, engine=False)
    m.line(FIN, "draw_marker", "Drawdown period marker", "", "index", "=IF({funding_need}>0,{period},project_construction_years-1)", engine=False)
    m.scalar(FIN, "last_draw_period", "Last drawdown period", "period", "index", "=MAX({row:draw_marker})")
    for j, d in enumerate(debts):
        n = f"debt_{j}"
        dj = f"debt_{j}_"
        m.section(FIN, f"Tranche {j + 1}: {d['repayment']} repayment")
        m.scalar(FIN, dj + "p0", "First repayment period", "period", "index", f"=MAX(project_construction_years+{n}_grace_years,{{s:last_draw_period}}+1)")
        m.scalar(FIN, dj + "p1", "Last repayment period", "period", "index", f"=project_construction_years+{n}_tenor_years-1")
        m.scalar(FIN, dj + "n_rep", "Number of repayments", "", "index", f"={{s:{dj}p1}}-{{s:{dj}p0}}+1")
        m.line(FIN, dj + "window", "Repayment period flag", "flag", "flag", f"=IF(AND({{period}}>={{s:{dj}p0}},{{period}}<={{s:{dj}p1}}),1,0)", engine=False)
        sculpted = d["repayment"] == "sculpted"
        if sculpted:
            m.line(FIN, dj + "draws_unscaled", "Drawdown before sculpting cap", "EUR", "eur_m", f"={n}_gearing*MAX({{funding_need}},0)", total=True, engine=False)
            m.line(FIN, dj + "unit_balance", "Balance before sculpting cap (interest capitalised)", "EUR", "eur_m", _recur(f"={{{dj}draws_unscaled}}", f"={{prev:{dj}unit_balance}}+(IF({{constr}}=1,{n}_interest_rate*{{prev:{dj}unit_balance}},0)+{{{dj}draws_unscaled}})"), engine=False)
            m.scalar(FIN, dj + "unit_at_p0", "Balance before cap at first repayment", "EUR", "eur_m", f"=INDEX({{row:{dj}unit_balance}},1,{{s:{dj}p0}})")
            m.line(FIN, dj + "proxy_pv_terms", "CFADS proxy discounted to the first repayment", "EUR", "eur_m", f"=IF({{{dj}window}}=1,{{cfads_proxy}}*(1+{n}_interest_rate)^(-({{period}}-{{s:{dj}p0}}+1)),0)", total=True, engine=False)
            m.scalar(FIN, dj + "pv_proxy", "PV of CFADS proxy over the repayment periods", "EUR", "eur_m", f"=SUM({{row:{dj}proxy_pv_terms}})")
            m.scalar(FIN, dj + "capacity", "Debt capacity: PV ÷ target DSCR", "EUR", "eur_m", f"={{s:{dj}pv_proxy}}/{n}_target_dscr")
            m.scalar(FIN, dj + "scale", "Sculpting scale on drawdowns", "ratio", "factor", f"=IF(OR(AND({{s:{dj}unit_at_p0}}>{{s:{dj}capacity}},{{s:{dj}capacity}}>0),AND({{s:{dj}capacity}}<=0,{{s:{dj}unit_at_p0}}>0)),MAX({{s:{dj}capacity}},0)/{{s:{dj}unit_at_p0}},1)")
            m.line(FIN, dj + "draws", "Drawdown", "EUR", "eur_m", f"={{{dj}draws_unscaled}}*{{s:{dj}scale}}", total=True, engine=False)
        else:
            m.line(FIN, dj + "draws", "Drawdown", "EUR", "eur_m", f"={n}_gearing*MAX({{funding_need}},0)", total=True, engine=False)
        m.line(FIN, dj + "opening", "Opening balance", "EUR", "eur_m", _recur("=0", f"={{prev:{dj}closing}}"), engine=False)
        m.line(FIN, dj + "interest", "Interest on opening balance", "EUR", "eur_m", f"={n}_interest_rate*{{{dj}opening}}", total=True, engine=False)
        m.line(FIN, dj + "interest_capitalised", "Interest capitalised (construction)", "EUR", "eur_m", f"=IF({{constr}}=1,{{{dj}interest}},0)", total=True, engine=False)
        m.line(FIN, dj + "interest_paid", "Interest paid (operation)", "EUR", "eur_m", f"=IF({{constr}}=1,0,{{{dj}interest}})", total=True, engine=False)
        m.scalar(FIN, dj + "balance_p0", "Balance at first repayment", "EUR", "eur_m", f"=INDEX({{row:{dj}opening}},1,{{s:{dj}p0}}+1)")
        last = f"IF({{period}}={{s:{dj}p1}},{{{dj}opening}},MIN(%s,{{{dj}opening}}))"
        if d["repayment"] == "linear":
            principal = last % f"{{s:{dj}balance_p0}}/{{s:{dj}n_rep}}"
        elif d["repayment"] == "annuity":
            m.scalar(FIN, dj + "payment", "Annuity debt service", "EUR", "eur_m", f"=PMT({n}_interest_rate,{{s:{dj}n_rep}},-{{s:{dj}balance_p0}})")
            principal = last % f"{{s:{dj}payment}}-{{{dj}interest}}"
        else:
            principal = last % (
                f"IF({{s:{dj}pv_proxy}}>0,{{cfads_proxy}}*{{s:{dj}balance_p0}}/{{s:{dj}pv_proxy}},"
                f"{{s:{dj}balance_p0}}/{{s:{dj}n_rep}}+{{{dj}interest}})-{{{dj}interest}}"
            )
        m.line(FIN, dj + "principal", "Principal repaid (at most the opening balance; the last instalment clears it)", "EUR", "eur_m", f"=IF({{{dj}window}}=1,{principal},0)", total=True, engine=False)
        m.line(FIN, dj + "closing", "Closing balance", "EUR", "eur_m", f"={{{dj}opening}}+{{{dj}interest_capitalised}}+{{{dj}draws}}-{{{dj}principal}}", engine=False)
        m.line(FIN, dj + "fees", "Upfront fee", "EUR", "eur_m", f"={n}_upfront_fee*{{{dj}draws}}", total=True, engine=False)
    J = range(len(debts))
    m.section(FIN, "All tranches")
    m.line(FIN, "debt_drawdown_eur", "Debt drawdown", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_draws}}" for j in J), total=True)
    m.line(FIN, "interest_capitalised_eur", "Interest capitalised", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_interest_capitalised}}" for j in J), total=True)
    m.line(FIN, "interest_paid_eur", "Interest paid", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_interest_paid}}" for j in J), total=True)
    m.line(FIN, "principal_eur", "Principal repaid", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_principal}}" for j in J), total=True)
    m.line(FIN, "debt_fees_eur", "Debt fees", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_fees}}" for j in J), total=True)
    m.line(FIN, "debt_service_eur", "Debt service", "EUR", "eur_m", "={interest_paid_eur}+{principal_eur}", total=True, style="total")
    m.line(FIN, "debt_balance_eur", "Debt balance (closing)", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_closing}}" for j in J))
    m.section(FIN, "Debt service reserve (DSRA): held at target, funded by equity, earns no interest, not drawn")
    for j in J:
        m.line(
            FIN, f"debt_{j}_dsra_target", f"Tranche {j + 1}: months ÷ 12 × next year's debt service", "EUR", "eur_m",
            _ahead(f"=debt_{j}_dsra_months/12*({{next:debt_{j}_interest_paid}}+{{next:debt_{j}_principal}})", "=0", n_periods),
            engine=False,
        )
    m.line(FIN, "dsra_target_eur", "DSRA target = balance (closing)", "EUR", "eur_m", "=" + _sum(f"{{debt_{j}_dsra_target}}" for j in J))
    m.line(FIN, "dsra_funding_eur", "DSRA funding (release when negative)", "EUR", "eur_m", _recur("={dsra_target_eur}", "={dsra_target_eur}-{prev:dsra_target_eur}"), total=True)
    if debts:
        m.section(FIN, "Loan life cover ratio at the first repayment")
        for j in J:
            m.scalar(FIN, f"debt_{j}_has_debt", f"Tranche {j + 1} has debt", "flag", "flag", f"=IF(MAX({{row:debt_{j}_closing}})>0,1,0)")
        m.scalar(FIN, "llcr_p0", "First repayment of tranches with debt", "period", "index", "=MIN(" + ",".join(f"IF({{s:debt_{j}_has_debt}}=1,{{s:debt_{j}_p0}},1E+9)" for j in J) + ")")
        m.scalar(FIN, "llcr_p1", "Last repayment of tranches with debt", "period", "index", "=MAX(" + ",".join(f"IF({{s:debt_{j}_has_debt}}=1,{{s:debt_{j}_p1}},-1)" for j in J) + ")")
        for j in J:
            m.scalar(FIN, f"debt_{j}_llcr_balance", f"Tranche {j + 1} balance then", "EUR", "eur_m", f"=IF({{s:debt_{j}_has_debt}}=1,INDEX({{row:debt_{j}_closing}},1,{{s:llcr_p0}}),0)")
        m.scalar(FIN, "llcr_debt", "Debt outstanding then", "EUR", "eur_m", "=" + _sum(f"{{s:debt_{j}_llcr_balance}}" for j in J))
        m.scalar(FIN, "llcr_rate", "Balance-weighted interest rate", "fraction", "pct", "=IF({s:llcr_debt}>0,(" + _sum(f"{{s:debt_{j}_llcr_balance}}*debt_{j}_interest_rate" for j in J) + ")/{s:llcr_debt},0)")
        m.line(FIN, "llcr_terms", "CFADS discounted over the loan life", "EUR", "eur_m", "=IF(AND({period}>={s:llcr_p0},{period}<={s:llcr_p1}),{cfads_eur}*(1+{s:llcr_rate})^(-({period}-{s:llcr_p0}+1)),0)", total=True, engine=False)
        m.scalar(FIN, "llcr_pv", "PV of CFADS over the loan life", "EUR", "eur_m", "=SUM({row:llcr_terms})")
        m.scalar(FIN, "min_p1", "Earliest maturity", "period", "index", "=MIN(" + ",".join(f"{{s:debt_{j}_p1}}" for j in J) + ")")
        m.scalar(FIN, "covenant", "Minimum DSCR covenant (tightest tranche)", "x", "ratio", "=MIN(" + ",".join(f"debt_{j}_min_dscr_covenant" for j in J) + ")")

    # cash flow -------------------------------------------------------------------------------
    CF = "Cash flow"
    m.section(CF, "Cash flow available for debt service")
    m.line(CF, "cfads_eur", "CFADS = EBITDA − tax (compute resale goes to equity below)", "EUR", "eur_m", "={ebitda_eur}-{tax_eur}", total=True, style="total")
    m.line(CF, "dscr", "DSCR = CFADS ÷ debt service", "x", "ratio", '=IF({debt_service_eur}>0,{cfads_eur}/{debt_service_eur},"n/a")')
    m.section(CF, "Equity waterfall: after the DSRA funding, shortfalls paid in by partners, surpluses distributed")
    m.line(
        CF, "net_cash_to_equity_eur", "Net cash to equity (after DSRA funding)", "EUR", "eur_m",
        "={cfads_eur}+{grants_eur}+{debt_drawdown_eur}-{capex_eur}-{debt_fees_eur}-{debt_service_eur}+{terminal_value_eur}+{compute_resale_eur}-{dsra_funding_eur}",
        total=True,
    )
    m.section(CF, "Distribution lock-up: surpluses retained (earning nothing) while DSCR < lock-up ratio; released when it recovers, after the debt or at the end")
    ratio = "=MAX(0" + "".join(f",IF({{debt_{j}_opening}}>0,debt_{j}_lockup_dscr,0)" for j in J) + ")"
    m.line(CF, "lockup_ratio", "Lock-up ratio (highest of the tranches with debt outstanding)", "x", "ratio", ratio)
    m.line(CF, "lockup_flag", "Distributions locked up (debt service, DSCR < lock-up ratio, not the last year)", "flag", "flag", "=IF(AND({oper}=1,{debt_service_eur}>0,{lockup_ratio}>0,{last}=0),IF({dscr}<{lockup_ratio},1,0),0)")
    m.line(CF, "lockup_retained_eur", "Retained in the lock-up account", "EUR", "eur_m", "=IF({lockup_flag}=1,MAX({net_cash_to_equity_eur},0),0)", total=True)
    m.line(
        CF, "lockup_released_eur", "Released from the lock-up account (covers a shortfall first)", "EUR", "eur_m",
        _recur("=0", "=IF({lockup_flag}=1,MIN({prev:lockup_balance_eur},MAX(-{net_cash_to_equity_eur},0)),{prev:lockup_balance_eur})"),
        total=True,
    )
    m.line(CF, "lockup_balance_eur", "Lock-up account (closing)", "EUR", "eur_m", _recur("={lockup_retained_eur}-{lockup_released_eur}", "={prev:lockup_balance_eur}+{lockup_retained_eur}-{lockup_released_eur}"))
    m.line(CF, "cash_to_equity", "Cash to equity after the lock-up", "EUR", "eur_m", "={net_cash_to_equity_eur}+{lockup_released_eur}-{lockup_retained_eur}", total=True, engine=False)
    m.line(CF, "funding_period", "Funding period (construction or initial capex)", "flag", "flag", "=IF(OR({initial_capex_eur}>0,{constr}=1),1,0)", engine=False)
    m.line(CF, "equity_contributions_eur", "Equity contributions", "EUR", "eur_m", "=IF({funding_period}=1,MAX(-{cash_to_equity},0),0)", total=True)
    m.line(CF, "equity_calls_eur", "Equity calls", "EUR", "eur_m", "=IF({funding_period}=1,0,MAX(-{cash_to_equity},0))", total=True)
    m.line(CF, "equity_paid_in", "Equity paid in", "EUR", "eur_m", "={equity_contributions_eur}+{equity_calls_eur}", total=True, engine=False)
    m.line(CF, "distributions_eur", "Distributions", "EUR", "eur_m", "=MAX({cash_to_equity},0)", total=True)
    m.line(CF, "equity_cash_flow_eur", "Equity cash flow", "EUR", "eur_m", "={cash_to_equity}", total=True, style="total")
    m.line(CF, "cumulative_equity_cash_flow_eur", "Cumulative equity cash flow", "EUR", "eur_m", _recur("={equity_cash_flow_eur}", "={prev:cumulative_equity_cash_flow_eur}+{equity_cash_flow_eur}"))
    m.section(CF, "Project cash flow (unlevered, post-tax)")
    m.line(CF, "project_cash_flow_eur", "Project cash flow", "EUR", "eur_m", "={ebitda_eur}-{capex_eur}+{grants_eur}-{unlevered_tax_eur}+{terminal_value_eur}+{compute_resale_eur}", total=True, style="total")
    m.line(CF, "cumulative_project_cash_flow", "Cumulative project cash flow", "EUR", "eur_m", _recur("={project_cash_flow_eur}", "={prev:cumulative_project_cash_flow}+{project_cash_flow_eur}"), engine=False)
    m.line(CF, "net_capex_eur", "Capex net of grants", "EUR", "eur_m", "={capex_eur}-{grants_eur}", total=True, engine=False)
    m.section(CF, "Payback: the year from which the cumulative flow stays ≥ 0 (after the last dip below 0)")
    for key, cum in (("project", "cumulative_project_cash_flow"), ("equity", "cumulative_equity_cash_flow_eur")):
        m.line(CF, f"{key}_negative_year", f"Cumulative {key} cash flow below 0 in this year", "year", "year", f'=IF({{{cum}}}<0,{{year}},"")', engine=False)
        m.line(CF, f"{key}_payback_candidate", f"{key.capitalize()} recovered in this year", "year", "year", _recur('=""', f'=IF(AND({{{cum}}}>=0,{{prev:{cum}}}<0),{{year}},"")'), engine=False)
    m.section(CF, "Sources and uses of cash")
    m.line(CF, "sources", "Sources: grants + debt + equity + CFADS + terminal value + compute resale + lock-up released", "EUR", "eur_m", "={grants_eur}+{debt_drawdown_eur}+{equity_contributions_eur}+{equity_calls_eur}+{cfads_eur}+{terminal_value_eur}+{compute_resale_eur}+{lockup_released_eur}", total=True, engine=False)
    m.line(CF, "uses", "Uses: capex + debt fees + debt service + distributions + lock-up retained + DSRA funding", "EUR", "eur_m", "={capex_eur}+{debt_fees_eur}+{debt_service_eur}+{distributions_eur}+{lockup_retained_eur}+{dsra_funding_eur}", total=True, engine=False)
    m.line(CF, "sources_minus_uses", "Sources − uses", "EUR", "eur", "={sources}-{uses}", engine=False)
    m.line(CF, "cash_balance", "Cash held in the project company (cumulative lock-up retained − released + DSRA funding)", "EUR", "eur", _recur("={lockup_retained_eur}-{lockup_released_eur}+{dsra_funding_eur}", "={prev:cash_balance}+{lockup_retained_eur}-{lockup_released_eur}+{dsra_funding_eur}"), engine=False)
    m.line(CF, "dsra_balance", "DSRA rebuilt from its funding (cumulative)", "EUR", "eur", _recur("={dsra_funding_eur}", "={prev:dsra_balance}+{dsra_funding_eur}"), engine=False)
    m.line(CF, "dsra_balance_minus_target", "|DSRA rebuilt − target|", "EUR", "eur", "=ABS({dsra_balance}-{dsra_target_eur})", engine=False)

    # partners -------------------------------------------------------------------------------
    PTN = "Partners"
    m.section(PTN, "Partner cash flows: pro rata to equity share")
    for i, _p in enumerate(partners):
        m.line(PTN, f"partner_{i}_cash_flow", f"Partner {i + 1} cash flow", "EUR", "eur_m", f"=partners_{i}_share*{{equity_cash_flow_eur}}", total=True, engine=False)
        m.line(PTN, f"partner_{i}_cumulative", f"Partner {i + 1} cumulative cash flow", "EUR", "eur_m", _recur(f"={{partner_{i}_cash_flow}}", f"={{prev:partner_{i}_cumulative}}+{{partner_{i}_cash_flow}}"), engine=False)
    m.line(PTN, "partner_sum_minus_equity", "Σ partner flows − equity cash flow", "EUR", "eur", "=(" + _sum(f"{{partner_{i}_cash_flow}}" for i in range(len(partners))) + ")-{equity_cash_flow_eur}", engine=False)
    m.scalar(PTN, "cost_of_equity", "Share-weighted cost of equity", "fraction/year", "pct", "=" + _sum(f"partners_{i}_share*partners_{i}_cost_of_equity" for i in range(len(partners))))
    return m


# --- the writer ----------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    return formatting.is_missing(value) or (isinstance(value, float) and math.isnan(value))


class _Writer:
    def __init__(self, run: Any):
        self.run = run
        self.res = run.result
        self.case: assumptions.Case = run.result.case
        self.doc: dict[str, Any] = run.doc
        self.T = self.res.timeline.n_periods
        self.wb = Workbook()
        self.layout = Layout(first_col=FIRST_COL, n_periods=self.T)
        self.ws: dict[str, Worksheet] = {}
        first = self.wb.active
        assert first is not None
        for i, name in enumerate(SHEETS):
            ws = first if i == 0 else self.wb.create_sheet()
            ws.title = name
            self.ws[name] = ws
        self.model = define_model(self.case, self.T)

    # helpers -----------------------------------------------------------------------------

    def text(self, ws: Worksheet, row: int, col: int, value: Any, font: Font | None = None) -> Cell:
        """Write text that stays text, whatever it starts with."""
        cell = ws.cell(row=row, column=col)
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
        cell.data_type = "s"
        if font is not None:
            cell.font = font
        return cell

    def number(self, ws: Worksheet, row: int, col: int, value: Any, kind: str, reason: str = "") -> Cell:
        """A value cell; "n/a" with its reason beside it when the value has no answer."""
        cell = ws.cell(row=row, column=col)
        if _is_missing(value) or not isinstance(value, int | float):
            self.text(ws, row, col, formatting.NA)
            if reason:
                self.text(ws, row, col + 1, reason, NOTE_FONT)
            return cell
        cell.value = float(value) if not isinstance(value, bool) else value
        cell.number_format = FMT[kind]
        return cell

    def name(self, name: str, sheet: str, ref: str) -> None:
        self.wb.defined_names[name] = DefinedName(name, attr_text=f"{quote_sheetname(sheet)}!{ref}")

    def validate(self, ws: Worksheet, cells: str, path: str, f: assumptions.Field, *, shape: bool = False) -> None:
        """Give input cells the data validation rule of their field, when it has one."""
        rule = _validation(path, f, shape=shape)
        if rule is not None:
            rule.add(cells)
            ws.add_data_validation(rule)

    def title(self, ws: Worksheet, text: str) -> None:
        self.text(ws, 1, 1, text, TITLE_FONT)

    def setup_print(self, ws: Worksheet, *, title_rows: str | None = None, title_cols: str | None = None) -> None:
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        if title_rows:
            ws.print_title_rows = title_rows
        if title_cols:
            ws.print_title_cols = title_cols
        ws.print_area = f"A1:{get_column_letter(max(ws.max_column, 1))}{max(ws.max_row, 1)}"

    # sheets -------------------------------------------------------------------------------

    def write(self) -> tuple[Workbook, Layout]:
        self.write_inputs()
        self.write_calc_sheets()
        self.write_partner_table()
        self.write_outputs()
        self.write_checks()
        self.write_monte_carlo()
        self.write_scenarios()
        self.write_sensitivity()
        self.write_cover()
        return self.wb, self.layout

    def write_cover(self) -> None:
        ws = self.ws["Cover"]
        man = self.doc.get("manifest", {})
        self.title(ws, "Business case model")
        rows = [
            ("Project", self.case.data["project"]["name"]),
            ("Scenario", man.get("scenario", self.case.scenario)),
            ("Date (UTC)", man.get("utc_timestamp", "")),
            ("bizcase version", man.get("bizcase_version", __version__)),
            ("Seed", "n/a (no Monte Carlo)" if man.get("seed") is None else man.get("seed")),
            ("Monte Carlo paths", man.get("simulations", 0)),
            ("Assumptions file", man.get("assumptions_file", self.case.file)),
            ("Assumptions SHA-256", man.get("assumptions_sha256", self.case.sha256)),
            ("Overrides (--set)", ", ".join(f"{k} = {v}" for k, v in (man.get("overrides") or {}).items()) or "none"),
        ]
        for i, (label, value) in enumerate(rows, start=3):
            self.text(ws, i, 1, label, TOTAL_FONT)
            if isinstance(value, int) and not isinstance(value, bool):
                ws.cell(row=i, column=2, value=value).number_format = "0"
            else:
                self.text(ws, i, 2, value)
        r = len(rows) + 4
        self.text(ws, r, 1, "Master check", TOTAL_FONT)
        sheet, cell = self.layout.master_check
        c = ws.cell(row=r, column=2, value=f"={quote_sheetname(sheet)}!{cell}")
        c.font = TOTAL_FONT
        r += 2
        self.text(ws, r, 1, "How to read this workbook", SECTION_FONT)
        notes = [
            "A line is a row, a period a column; every calculation cell is a formula over Inputs (defined names), the Timeline and earlier rows or columns.",
            "Input cells are blue on light yellow: change them and recalculate. Grey inputs shape the workbook: change them in the assumptions file and re-run bizcase.",
            "Money is nominal EUR, shown in EUR millions. Cash in is positive in flow lines; cost and capex lines are positive amounts that are subtracted.",
            "Flows fall at period end. NPVs are valued at 1 January of the start year: =NPV(rate, row) for year-end flows, × (1 + rate)^0.5 for mid-year flows.",
            "The debt schedule follows the engine's sizing rules as formulas: drawdowns = gearing × (initial capex − grants on it), interest on the opening balance (capitalised in construction), repayment by the chosen profile.",
            "Input cells refuse values outside their allowed range; rules across inputs (shares summing to 1, gearing, capacity) are the Input checks on the Checks sheet, part of the master check.",
            "Monte Carlo, Scenarios and Sensitivity hold values from re-evaluations of the model, not formulas.",
        ]
        for i, note in enumerate(notes, start=r + 1):
            self.text(ws, i, 1, "•")
            self.text(ws, i, 2, note)
        r = r + len(notes) + 2
        self.text(ws, r, 1, "Legend", SECTION_FONT)
        c = self.text(ws, r + 1, 1, "Input")
        c.font, c.fill = INPUT_FONT, INPUT_FILL
        c = self.text(ws, r + 2, 1, "Input that shapes the workbook")
        c.font, c.fill = INPUT_FONT, SHAPE_FILL
        c = self.text(ws, r + 3, 1, "Key output")
        c.fill = KPI_FILL
        self.text(ws, r + 5, 1, "Sheets", SECTION_FONT)
        for i, name in enumerate(SHEETS, start=r + 6):
            c = ws.cell(row=i, column=1, value=f'=HYPERLINK("#\'{name}\'!A1","{name}")')
            c.font = Font(color="0563C1", underline="single")
        ws.column_dimensions["A"].width = 30
        ws.column_dimensions["B"].width = 110
        self.setup_print(ws)

    def write_inputs(self) -> None:
        ws = self.ws["Inputs"]
        self.title(ws, "Inputs")
        self.text(ws, 2, 1, "Blue on yellow: input. Grey: shapes the workbook (change in the assumptions file and re-run). Names: dotted path with _ for dots.", NOTE_FONT)
        headers = ("Defined name", "Description", "Unit", "Value", "Source")
        for j, h in enumerate(headers, start=1):
            c = self.text(ws, 4, j, h, HEADER_FONT)
            c.fill = HEADER_FILL
        r = 5
        section = None
        lists: list[tuple[str, assumptions.Field, list[float]]] = []
        sources = self.case.sources
        for path, f, value in assumptions.iter_fields(self.case.data):
            head = path.split(".")[0] if path.count(".") == 1 else ".".join(path.split(".")[:2])
            if head != section:
                section = head
                r += 1
                self.text(ws, r, 1, f"[{head}]", SECTION_FONT)
                r += 1
            if f.kind == "floats":
                lists.append((path, f, value))
                continue
            name = defined_name(path)
            self.text(ws, r, 1, name)
            self.text(ws, r, 2, f.doc or path)
            self.text(ws, r, 3, f.unit)
            cell = ws.cell(row=r, column=4)
            key = path.split(".")[-1]
            shape = path in SHAPE_INPUTS or (path.split(".")[0] in assumptions.ARRAYS and key in SHAPE_ARRAY_KEYS)
            if f.kind == "strs":
                self.text(ws, r, 4, ", ".join(value))
                shape = True
            elif f.kind == "str":
                self.text(ws, r, 4, value)
            elif f.kind == "bool":
                cell.value = bool(value)
            else:
                cell.value = value
                cell.number_format = _input_format(f)
            cell.font = INPUT_FONT
            cell.fill = SHAPE_FILL if shape else INPUT_FILL
            self.validate(ws, f"D{r}", path, f, shape=shape)
            if path in sources:
                self.text(ws, r, 5, sources[path])
            self.name(name, "Inputs", f"$D${r}")
            r += 1
        for path, f, values in lists:
            r += 1
            name = defined_name(path)
            self.text(ws, r, 1, f"[{path}] — named {name}, one value per row", SECTION_FONT)
            r += 1
            first = r
            what = "operating year" if path == "site.deployment" else "construction year"
            for i, v in enumerate(values):
                self.text(ws, r, 1, f"{name}[{i + 1}]")
                self.text(ws, r, 2, f"{f.doc} — {what} {i + 1}")
                self.text(ws, r, 3, f.unit)
                cell = ws.cell(row=r, column=4, value=v)
                cell.number_format = FMT["pct"]
                cell.font = INPUT_FONT
                cell.fill = INPUT_FILL
                if i == 0 and path in sources:
                    self.text(ws, r, 5, sources[path])
                r += 1
            self.validate(ws, f"D{first}:D{r - 1}", path, f)
            self.text(ws, r, 2, "Number of items shapes the workbook (cohorts, construction years)", NOTE_FONT)
            self.name(name, "Inputs", f"$D${first}:$D${r - 1}")
            r += 1
        unc = self.case.data.get("uncertainty", {})
        variables = unc.get("variables") or {}
        if variables:
            r += 1
            self.text(ws, r, 1, "[uncertainty] — used by Monte Carlo only, not by the formulas", SECTION_FONT)
            r += 1
            for path, spec in variables.items():
                self.text(ws, r, 1, str(path))
                self.text(ws, r, 2, ", ".join(f"{k} = {v}" for k, v in dict(spec).items()))
                r += 1
            for a, b, rho in (unc.get("correlation") or {}).get("pairs", []):
                self.text(ws, r, 1, "rank correlation")
                self.text(ws, r, 2, f"{a} ~ {b}: {rho}")
                r += 1
            for name, params in (unc.get("processes") or {}).items():
                self.text(ws, r, 1, f"process {name}")
                self.text(ws, r, 2, ", ".join(f"{k} = {v}" for k, v in dict(params).items()))
                r += 1
        for col, width in zip("ABCDE", (44, 70, 16, 18, 90), strict=True):
            ws.column_dimensions[col].width = width
        ws.freeze_panes = "B5"
        self.setup_print(ws, title_rows="4:4")

    def write_calc_sheets(self) -> None:
        m = self.model
        T = self.T
        last_col = get_column_letter(FIRST_COL + T - 1)
        for sheet in CALC_SHEETS:
            ws = self.ws[sheet]
            self.title(ws, f"{sheet} — {self.case.data['project']['name']}")
            self.text(ws, 2, LABEL_COL, "Calendar year", TOTAL_FONT)
            self.text(ws, 3, LABEL_COL, "Operating year", TOTAL_FONT)
            self.text(ws, 2, VALUE_COL, "Total / value", TOTAL_FONT)
            self.text(ws, 2, UNIT_COL, "Unit", TOTAL_FONT)
            for t in range(T):
                col = FIRST_COL + t
                if sheet != "Timeline":
                    c2 = ws.cell(row=2, column=col, value=m.resolve("={year}", sheet, t))
                    c3 = ws.cell(row=3, column=col, value=m.resolve("={opyear}", sheet, t))
                else:
                    c2 = ws.cell(row=2, column=col, value=f"=project_start_year+{get_column_letter(col)}{m.rows['period'].row}")
                    c3 = ws.cell(row=3, column=col, value=f"={get_column_letter(col)}{m.rows['period'].row}-project_construction_years+1")
                c2.number_format = c3.number_format = "0"
                c2.font = TOTAL_FONT
                c2.border = THIN_TOP
            for r in m.order[sheet]:
                if r.style == "section":
                    self.text(ws, r.row, LABEL_COL, r.label, SECTION_FONT)
                    continue
                self.text(ws, r.row, LABEL_COL, r.label)
                self.text(ws, r.row, UNIT_COL, r.unit)
                fmt = FMT[r.kind]
                font = TOTAL_FONT if r.style == "total" else None
                if r.scalar is not None:
                    c = ws.cell(row=r.row, column=VALUE_COL, value=m.resolve(r.scalar, sheet))
                    c.number_format = fmt
                    continue
                formula = r.formula
                assert formula is not None
                for t in range(T):
                    template = formula(t) if callable(formula) else formula
                    c = ws.cell(row=r.row, column=FIRST_COL + t, value=m.resolve(template, sheet, t))
                    c.number_format = fmt
                    if font is not None:
                        c.font = font
                if r.total:
                    c = ws.cell(row=r.row, column=VALUE_COL, value=f"=SUM({get_column_letter(FIRST_COL)}{r.row}:{last_col}{r.row})")
                    c.number_format = fmt
                    c.font = TOTAL_FONT
                if r.engine is not None and r.engine in self.res.lines:
                    self.layout.lines[r.engine] = (sheet, r.row)
                    if r.total:
                        self.layout.totals[r.engine] = (sheet, f"C{r.row}")
            ws.column_dimensions["A"].width = 52
            ws.column_dimensions["B"].width = 11
            ws.column_dimensions["C"].width = 15
            for t in range(T):
                ws.column_dimensions[get_column_letter(FIRST_COL + t)].width = 12
            ws.freeze_panes = ws.cell(row=HEADER_ROWS + 1, column=FIRST_COL)
            self.setup_print(ws, title_rows=f"1:{HEADER_ROWS}", title_cols="A:C")

    def write_partner_table(self) -> None:
        m = self.model
        ws = self.ws["Partners"]
        partners = self.case.data["partners"]
        r0 = m.next_row["Partners"] + 2
        self.text(ws, r0, 1, "Partner returns", SECTION_FONT)
        headers = ("Partner", "Share", "Contributions", "Distributions", "IRR", "NPV at own cost of equity", "MOIC", "Peak exposure", "Payback year")
        for j, h in enumerate(headers, start=1):
            c = self.text(ws, r0 + 1, j, h, HEADER_FONT)
            c.fill = HEADER_FILL
            c.alignment = Alignment(wrap_text=True)
        guess = _guess(self.doc["kpis"].get("equity_irr"))
        payback = m.resolve('=IF(COUNT({row:equity_payback_candidate})=0,"n/a",IF(MAX({row:equity_payback_candidate})>MAX({row:equity_negative_year}),MAX({row:equity_payback_candidate}),"n/a"))', "Partners")
        for i, _p in enumerate(partners):
            r = r0 + 2 + i
            n = f"partners_{i}"
            flows = m.resolve(f"{{row:partner_{i}_cash_flow}}", "Partners")
            cum = m.resolve(f"{{row:partner_{i}_cumulative}}", "Partners")
            paid_in = m.resolve("{row:equity_paid_in}", "Partners")
            dist = m.resolve("{row:distributions_eur}", "Partners")
            cells = {
                "name": (f"={n}_name", "text"),
                "share": (f"={n}_share", "pct"),
                "contributions_eur": (f"={n}_share*SUM({paid_in})", "eur_m"),
                "distributions_eur": (f"={n}_share*SUM({dist})", "eur_m"),
                "irr": (f'=IFERROR(IRR({flows},{guess}),"n/a")', "pct"),
                "npv_eur": (f"=NPV({n}_cost_of_equity,{flows})*{_mid(f'{n}_cost_of_equity')}", "eur_m"),
                "moic": (f'=IF(-SUMIF({flows},"<0")>0,SUMIF({flows},">0")/-SUMIF({flows},"<0"),"n/a")', "ratio"),
                "peak_exposure_eur": (f"=MAX(-MIN({cum}),0)", "eur_m"),
                "payback_year": (payback, "year"),
            }
            where: dict[str, tuple[str, str]] = {}
            for j, (key, (formula, kind)) in enumerate(cells.items(), start=1):
                c = ws.cell(row=r, column=j, value=formula)
                c.number_format = FMT[kind]
                where[key] = ("Partners", c.coordinate)
            self.layout.partners.append(where)
        self.partner_table = (r0 + 2, r0 + 1 + len(partners))

    def write_outputs(self) -> None:
        m = self.model
        ws = self.ws["Outputs"]
        self.title(ws, f"Outputs — {self.case.data['project']['name']}")
        for j, h in enumerate(("KPI", "Key (defined name)", "Value", "Note"), start=1):
            c = self.text(ws, 3, j, h, HEADER_FONT)
            c.fill = HEADER_FILL
        kpis = self.doc["kpis"]
        notes = self.doc.get("notes", {})
        formulas = self.kpi_formulas()
        r = 4
        for key, value in kpis.items():
            self.text(ws, r, 1, formatting.KPI_LABELS.get(key, key.replace("_", " ")))
            self.text(ws, r, 2, key)
            kind = formatting.KPI_KINDS.get(key, "decimal")
            if key in formulas:
                c = ws.cell(row=r, column=3, value=m.resolve(formulas[key], "Outputs"))
                c.number_format = FMT[kind]
                if _is_missing(value):
                    self.text(ws, r, 4, f"n/a: {notes.get(key, 'no answer')}", NOTE_FONT)
            else:
                c = self.number(ws, r, 3, value, kind, f"n/a: {notes.get(key, 'no answer')}")
                if not _is_missing(value):
                    self.text(ws, r, 4, VALUE_NOTES.get(key, "value from the run's analysis (re-evaluations of the model, not a formula)"), NOTE_FONT)
            c.fill = KPI_FILL
            c.font = TOTAL_FONT
            safe = _kpi_name(key)
            if safe:
                self.name(safe, "Outputs", f"$C${r}")
            self.layout.kpis[key] = ("Outputs", f"C{r}")
            r += 1
        # workings used by the KPIs
        r += 1
        self.text(ws, r, 1, "Workings", SECTION_FONT)
        self.workings_row = r + 1
        for label, key, formula, kind in self.workings():
            r += 1
            self.text(ws, r, 1, label)
            self.text(ws, r, 2, key)
            c = ws.cell(row=r, column=3, value=m.resolve(formula, "Outputs"))
            c.number_format = FMT[kind]
        # sources and uses over the whole life
        r += 2
        self.text(ws, r, 1, "Sources and uses over the life of the project", SECTION_FONT)
        r += 1
        su_first = r
        totals = m.resolve
        items = [
            ("Sources", "Grants", "{row:grants_eur}"), ("Sources", "Debt drawdowns", "{row:debt_drawdown_eur}"),
            ("Sources", "Equity contributions", "{row:equity_contributions_eur}"), ("Sources", "Equity calls", "{row:equity_calls_eur}"),
            ("Sources", "CFADS", "{row:cfads_eur}"), ("Sources", "Terminal value", "{row:terminal_value_eur}"),
            ("Sources", "Resale of retired compute", "{row:compute_resale_eur}"),
            ("Uses", "Capex", "{row:capex_eur}"), ("Uses", "Debt fees", "{row:debt_fees_eur}"),
            ("Uses", "Debt service", "{row:debt_service_eur}"), ("Uses", "Distributions", "{row:distributions_eur}"),
        ]
        self.text(ws, r, 1, "Item", TOTAL_FONT)
        self.text(ws, r, 2, "Side", TOTAL_FONT)
        self.text(ws, r, 3, "Sources", TOTAL_FONT)
        self.text(ws, r, 4, "Uses", TOTAL_FONT)
        for side, label, rng in items:
            r += 1
            self.text(ws, r, 1, label)
            self.text(ws, r, 2, side)
            col = 3 if side == "Sources" else 4
            ws.cell(row=r, column=col, value=f"=SUM({totals(rng, 'Outputs')})").number_format = FMT["eur_m"]
            ws.cell(row=r, column=7 - col, value=0).number_format = FMT["eur_m"]
        su_last = r
        r += 1
        self.text(ws, r, 1, "Total", TOTAL_FONT)
        for col in (3, 4):
            letter = get_column_letter(col)
            c = ws.cell(row=r, column=col, value=f"=SUM({letter}{su_first + 1}:{letter}{su_last})")
            c.number_format = FMT["eur_m"]
            c.font = TOTAL_FONT
        for column, width in zip("ABCD", (44, 34, 18, 60), strict=True):
            ws.column_dimensions[column].width = width
        ws.freeze_panes = "A4"
        charts_end = self.charts(ws, su_first, su_last, r + 3)
        self.setup_print(ws, title_rows="3:3")
        ws.print_area = f"A1:D{charts_end}"

    def kpi_formulas(self) -> dict[str, str]:
        """KPI -> formula template over whole rows (KPIs the workbook can compute live)."""
        kpis = self.doc["kpis"]
        debts = self.case.data["debt"]
        f = {
            "total_capex_eur": "=SUM({row:initial_capex_eur})",
            "refresh_capex_eur": "=SUM({row:refresh_capex_eur})",
            "grants_eur": "=SUM({row:grants_eur})",
            "debt_eur": "=SUM({row:debt_drawdown_eur})",
            "equity_eur": "=SUM({row:equity_contributions_eur})+SUM({row:equity_calls_eur})",
            "project_npv_eur": "=NPV(project_discount_rate,{row:project_cash_flow_eur})*" + _mid("project_discount_rate"),
            "project_irr": f'=IFERROR(IRR({{row:project_cash_flow_eur}},{_guess(kpis.get("project_irr"))}),"n/a")',
            "equity_npv_eur": "=NPV({s:cost_of_equity},{row:equity_cash_flow_eur})*" + _mid("{s:cost_of_equity}"),
            "equity_irr": f'=IFERROR(IRR({{row:equity_cash_flow_eur}},{_guess(kpis.get("equity_irr"))}),"n/a")',
            "min_dscr": '=IF(COUNT({row:dscr})=0,"n/a",MIN({row:dscr}))',
            "avg_dscr": '=IF(COUNT({row:dscr})=0,"n/a",AVERAGE({row:dscr}))',
            "payback_year": '=IF(COUNT({row:project_payback_candidate})=0,"n/a",IF(MAX({row:project_payback_candidate})>MAX({row:project_negative_year}),MAX({row:project_payback_candidate}),"n/a"))',
            "equity_payback_year": '=IF(COUNT({row:equity_payback_candidate})=0,"n/a",IF(MAX({row:equity_payback_candidate})>MAX({row:equity_negative_year}),MAX({row:equity_payback_candidate}),"n/a"))',
            "lcoc_eur_per_gpu_hour": '=IF(pv_gpu_hours_sold>0,(pv_opex_eur+pv_net_capex_eur)/pv_gpu_hours_sold,"n/a")',
            "peak_equity_exposure_eur": "=MAX(-MIN({row:cumulative_equity_cash_flow_eur}),0)",
            "lockup_years": '=COUNTIF({row:lockup_retained_eur},">0")',
        }
        if debts:
            f["llcr"] = '=IF({s:llcr_debt}>0,{s:llcr_pv}/{s:llcr_debt},"n/a")'
            f["dscr_covenant_breach"] = "=IF(COUNT({row:dscr})=0,0,IF(MIN({row:dscr})<{s:covenant},1,0))"
        else:
            f["llcr"] = '="n/a"'
            f["dscr_covenant_breach"] = "=0"
        return {k: v for k, v in f.items() if k in kpis}

    def workings(self) -> list[tuple[str, str, str, str]]:
        mid = _mid("project_discount_rate")
        rows = [
            ("PV of operating costs", "pv_opex_eur", f"=NPV(project_discount_rate,{{row:opex_eur}})*{mid}", "eur_m"),
            ("PV of capex net of grants", "pv_net_capex_eur", f"=NPV(project_discount_rate,{{row:net_capex_eur}})*{mid}", "eur_m"),
            ("PV of GPU-hours sold", "pv_gpu_hours_sold", f"=NPV(project_discount_rate,{{row:gpu_hours_sold}})*{mid}", "number"),
        ]
        for i, (_label, key, _f, _k) in enumerate(rows):
            self.name(key, "Outputs", f"$C${self.workings_row + i}")
        return rows

    def charts(self, ws: Worksheet, su_first: int, su_last: int, top: int) -> int:
        """Native charts below the tables, two per band; returns the last row they cover."""
        m = self.model
        T = self.T
        cf = self.ws["Cash flow"]
        years = Reference(self.ws["Timeline"], min_col=FIRST_COL, max_col=FIRST_COL + T - 1, min_row=m.rows["year"].row)
        chart = BarChart()
        chart.title = "Annual cash flows (EUR)"
        chart.y_axis.title = "EUR"
        chart.y_axis.numFmt = FMT["eur_m"]
        for key, label in (("project_cash_flow_eur", "Project cash flow"), ("equity_cash_flow_eur", "Equity cash flow")):
            row = m.rows[key].row
            ref = Reference(cf, min_col=FIRST_COL, max_col=FIRST_COL + T - 1, min_row=row)
            chart.series.append(Series(ref, title=label))
        chart.set_categories(years)
        chart.x_axis.tickLblPos = "low"  # year labels below negative bars
        chart.height, chart.width = 8, 15
        ws.add_chart(chart, f"A{top}")

        su = BarChart()
        su.type = "bar"
        su.grouping = "stacked"
        su.overlap = 100
        su.title = "Sources and uses over the life (EUR)"
        su.add_data(Reference(ws, min_col=3, max_col=4, min_row=su_first, max_row=su_last), titles_from_data=True)
        su.set_categories(Reference(ws, min_col=1, min_row=su_first + 1, max_row=su_last))
        su.x_axis.numFmt = FMT["eur_m"]
        su.height, su.width = 8, 15
        ws.add_chart(su, f"C{top}")

        pt = self.ws["Partners"]
        first, last = self.partner_table
        pr = BarChart()
        pr.title = "Partner contributions and distributions (EUR)"
        pr.add_data(Reference(pt, min_col=3, max_col=4, min_row=first - 1, max_row=last), titles_from_data=True)
        pr.set_categories(Reference(pt, min_col=1, min_row=first, max_row=last))
        pr.y_axis.numFmt = FMT["eur_m"]
        pr.height, pr.width = 8, 15
        ws.add_chart(pr, f"A{top + BAND}")

        npv = BarChart()
        npv.title = "Partner NPV at own cost of equity (EUR)"
        npv.add_data(Reference(pt, min_col=6, max_col=6, min_row=first - 1, max_row=last), titles_from_data=True)
        npv.set_categories(Reference(pt, min_col=1, min_row=first, max_row=last))
        npv.y_axis.numFmt = FMT["eur_m"]
        npv.x_axis.tickLblPos = "low"
        npv.height, npv.width = 8, 15
        ws.add_chart(npv, f"C{top + BAND}")
        return top + 2 * BAND

    def write_checks(self) -> None:
        m = self.model
        ws = self.ws["Checks"]
        self.title(ws, "Integrity checks")
        debts = self.case.data["debt"]
        grants = self.case.data["grants"]
        T = self.T
        for j, h in enumerate(("Check", "What it tests", "Worst deviation", "Tolerance", "Passed"), start=1):
            c = self.text(ws, 3, j, h, HEADER_FONT)
            c.fill = HEADER_FILL
        self.text(ws, 4, 1, "Scale: max(1, |initial capex|)")
        ws.cell(row=4, column=3, value=m.resolve("=MAX(1,ABS(SUM({row:initial_capex_eur})))", "Checks")).number_format = FMT["eur_m"]
        self.text(ws, 5, 1, "Tolerance: 1e-9 × scale")
        ws.cell(row=5, column=3, value="=1E-9*C4").number_format = "0.00E+00"
        input_checks = self.input_checks()
        # helper rows below the checks: each tranche's balance from its own maturity on
        model_checks = 7
        helper = 7 + model_checks + 2 + len(input_checks) + 6
        self.text(ws, helper - 1, 1, "Workings", SECTION_FONT)
        maturity_rows = []
        for j in range(len(debts)):
            r = helper + j
            self.text(ws, r, 1, f"|Tranche {j + 1} balance| from its maturity on")
            self.text(ws, r, 2, "EUR")
            for t in range(T):
                formula = f"=IF({{period}}>={{s:debt_{j}_p1}},ABS({{debt_{j}_closing}}),0)"
                ws.cell(row=r, column=FIRST_COL + t, value=m.resolve(formula, "Checks", t)).number_format = FMT["eur"]
            maturity_rows.append(f"$D${r}:${get_column_letter(FIRST_COL + T - 1)}${r}")
        grant_terms = ",".join(m.resolve(f"{{s:grant_{g}_total}}-grants_{g}_cap_eur", "Checks") for g in range(len(grants)))
        checks = [
            ("sources_equal_uses", "Sources = uses in every year", "=MAX(MAX({row:sources_minus_uses}),-MIN({row:sources_minus_uses}))"),
            ("debt_balance_non_negative", "Debt balance ≥ 0", "=MAX(0,-MIN({row:debt_balance_eur}))"),
            ("debt_repaid_by_maturity", "Each tranche's balance is 0 from its maturity on", f"=MAX(0{''.join(',' + r for r in maturity_rows)})"),
            ("partner_flows_sum_to_equity", "Partner flows sum to equity flows", "=MAX(MAX({row:partner_sum_minus_equity}),-MIN({row:partner_sum_minus_equity}))"),
            ("cash_never_negative", "Cash held (lock-up account and DSRA) never negative", "=MAX(0,-MIN({row:cash_balance}))"),
            ("dsra_at_target", "DSRA rebuilt from its funding = target, ≥ 0, and 0 at the end", "=MAX(MAX({row:dsra_balance_minus_target}),-MIN({row:dsra_balance}),ABS({last:dsra_balance}))"),
            ("grants_within_caps", "Each grant within its cap", f"=MAX(0{',' + grant_terms if grant_terms else ''})"),
        ]
        assert len(checks) == model_checks
        r = 7
        for name, what, formula in checks:
            self.text(ws, r, 1, name)
            self.text(ws, r, 2, what)
            ws.cell(row=r, column=3, value=m.resolve(formula, "Checks")).number_format = "0.00E+00"
            ws.cell(row=r, column=4, value="=$C$5").number_format = "0.00E+00"
            ws.cell(row=r, column=5, value=f"=C{r}<=D{r}")
            self.layout.checks[name] = ("Checks", f"E{r}")
            r += 1
        model_range = f"E7:E{r - 1}"
        r += 1
        self.text(ws, r, 1, "Input checks: rules across inputs that bizcase enforces on the assumptions file", SECTION_FONT)
        r += 1
        first_input = r
        for name, what, deviation, tolerance, fmt in input_checks:
            self.text(ws, r, 1, name)
            self.text(ws, r, 2, what)
            ws.cell(row=r, column=3, value=deviation).number_format = fmt
            ws.cell(row=r, column=4, value=tolerance).number_format = fmt
            ws.cell(row=r, column=5, value=f"=C{r}<=D{r}")
            self.layout.input_checks[name] = ("Checks", f"E{r}")
            r += 1
        input_range = f"E{first_input}:E{r - 1}"
        self.name("input_checks", "Checks", f"$E${first_input}:$E${r - 1}")
        r += 1
        self.text(ws, r, 1, "Master check: all checks pass", TOTAL_FONT)
        c = ws.cell(row=r, column=5, value=f"=AND({model_range},{input_range})")
        c.font = TOTAL_FONT
        c.fill = KPI_FILL
        assert r < helper - 1, "the checks run into the workings"
        self.layout.master_check = ("Checks", f"E{r}")
        self.name("master_check", "Checks", f"$E${r}")
        inputs = self.ws["Inputs"]
        self.text(inputs, 3, 1, "Input checks pass (shares, gearing, capacity; see Checks)", TOTAL_FONT)
        c = inputs.cell(row=3, column=4, value="=AND(input_checks)")
        c.font = TOTAL_FONT
        c.fill = KPI_FILL
        for col, width in zip("ABCDE", (34, 40, 16, 12, 10), strict=True):
            ws.column_dimensions[col].width = width
        ws.freeze_panes = "A4"
        self.setup_print(ws, title_rows="3:3")

    def input_checks(self) -> list[tuple[str, str, str, float, str]]:
        """Rules across several inputs, as (name, what, deviation, tolerance, number format).

        The cross-key rules of :mod:`bizcase.assumptions`, with its share tolerance; a check passes when the deviation is at most the tolerance.
        """
        data = self.case.data
        tolerance = assumptions.SHARE_TOLERANCE
        shares = ",".join(f"partners_{i}_share" for i in range(len(data["partners"])))
        checks = [
            ("partner_shares_sum_to_1", "Partners' equity shares sum to 1 (|sum − 1|)", f"=ABS(SUM({shares})-1)", tolerance, "0.00E+00"),
            ("deployment_sums_to_1", "site.deployment shares sum to 1 (|sum − 1|)", "=ABS(SUM(site_deployment)-1)", tolerance, "0.00E+00"),
            ("spend_profile_sums_to_1", "capex.spend_profile shares sum to 1 (|sum − 1|)", "=ABS(SUM(capex_spend_profile)-1)", tolerance, "0.00E+00"),
        ]
        if data["debt"]:
            gearing = ",".join(f"debt_{j}_gearing" for j in range(len(data["debt"])))
            checks.append(("gearing_at_most_1", "Tranches' gearing sums to at most 1 (sum − 1)", f"=SUM({gearing})-1", tolerance, "0.00E+00"))
        anchors = _sum((f"customers_{i}_gpus" for i in range(len(data["customers"]))), "0")
        checks.append((
            "anchors_and_public_within_gpus", "Anchor GPUs + public-access share × GPUs ≤ site.gpus (excess, GPUs)",
            f"={anchors}+public_access_share*site_gpus-site_gpus", 0.0, FMT["number"],
        ))
        return checks

    def write_monte_carlo(self) -> None:
        ws = self.ws["Monte Carlo"]
        self.title(ws, "Monte Carlo (values from the simulation run, not formulas)")
        summary = self.doc.get("monte_carlo")
        if summary is None and getattr(self.run, "monte_carlo", None) is not None:
            summary = getattr(self.run.monte_carlo, "summary", None)
        if not isinstance(summary, Mapping):
            self.empty_sheet(ws, "Monte Carlo was not run for this workbook (run bizcase with --simulations N to fill this sheet).")
            return
        stats = ("mean", "sd", "p5", "p10", "p50", "p90", "p95", "n_defined")
        r = 2

        def table(title: str, header: tuple[str, ...]) -> None:
            nonlocal r
            r += 2
            self.text(ws, r, 1, title, SECTION_FONT)
            r += 1
            for j, h in enumerate(header, start=1):
                c = self.text(ws, r, j, h, HEADER_FONT)
                c.fill = HEADER_FILL

        def stat_row(label: str, vals: Mapping[str, Any], kind: str) -> None:
            nonlocal r
            r += 1
            self.text(ws, r, 1, label)
            for j, key in enumerate(stats, start=2):
                if key in vals:
                    self.number(ws, r, j, vals.get(key), "number" if key == "n_defined" else ("decimal" if kind == "year" and key == "sd" else kind))

        scalars = [(k, v) for k, v in summary.items() if v is None or (isinstance(v, int | float | str) and not isinstance(v, bool))]
        if scalars:
            table("Run and probabilities", ("Item", "Value"))
            for key, value in scalars:
                r += 1
                self.text(ws, r, 1, str(key).replace("_", " "))
                if isinstance(value, str):
                    self.text(ws, r, 2, value)
                else:
                    self.number(ws, r, 2, value, _mc_kind(str(key)), "no answer on these paths")
        kpis = summary.get("kpis")
        if isinstance(kpis, Mapping):
            table("Each KPI over the paths (paths without an answer are left out)", ("KPI", *stats))
            for key, vals in kpis.items():
                if isinstance(vals, Mapping):
                    stat_row(formatting.KPI_LABELS.get(key, str(key)), vals, formatting.KPI_KINDS.get(key, "decimal"))
        partners = summary.get("partners")
        if isinstance(partners, list) and partners:
            table("Partner NPV at own cost of equity over the paths", ("Partner", *stats, "P(IRR < cost of equity)"))
            for pt in partners:
                if not isinstance(pt, Mapping):
                    continue
                stat_row(str(pt.get("name", "")), pt.get("npv_eur") or {}, "eur_m")
                self.number(ws, r, len(stats) + 2, pt.get("prob_irr_below_cost_of_equity"), "pct", "no answer")
        bands = summary.get("bands")
        if isinstance(bands, Mapping) and isinstance(bands.get("years"), list):
            years = bands["years"]
            for line, band in bands.items():
                if not isinstance(band, Mapping):
                    continue
                table(f"Yearly band: {line.replace('_', ' ')}", ("Percentile", *(str(y) for y in years)))
                kind = "pct" if "utilization" in line else "eur_m"
                for pkey, values in band.items():
                    r += 1
                    self.text(ws, r, 1, str(pkey).upper())
                    for j, v in enumerate(values if isinstance(values, list) else [], start=2):
                        self.number(ws, r, j, v, kind)
        sens = summary.get("sensitivities")
        if isinstance(sens, Mapping) and sens:
            inputs = sorted({i for v in sens.values() if isinstance(v, Mapping) for i in v})
            table("Rank correlation of each KPI with each uncertain input (Spearman)", ("Input", *(formatting.KPI_LABELS.get(str(k), str(k)) for k in sens)))
            for name in inputs:
                r += 1
                self.text(ws, r, 1, name)
                for j, k in enumerate(sens, start=2):
                    vals = sens[k] if isinstance(sens[k], Mapping) else {}
                    self.number(ws, r, j, vals.get(name), "decimal")
        sampled = summary.get("inputs")
        if isinstance(sampled, Mapping) and sampled:
            table("Sampled inputs", ("Input", *stats))
            for name, vals in sampled.items():
                if isinstance(vals, Mapping):
                    stat_row(str(name), vals, "decimal")
        hists = summary.get("histograms")
        chart_row = 3
        for key, h in (hists.items() if isinstance(hists, Mapping) else []):
            if not isinstance(h, Mapping):
                continue
            edges, counts = list(h.get("edges") or []), list(h.get("counts") or [])
            if len(edges) != len(counts) + 1 or not counts:
                continue
            label = formatting.KPI_LABELS.get(key, str(key))
            table(f"Histogram: {label}", ("Bin from", "Bin to", "Paths"))
            first = r + 1
            kind = formatting.KPI_KINDS.get(key, "decimal")
            for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
                r += 1
                self.number(ws, r, 1, lo, kind)
                self.number(ws, r, 2, hi, kind)
                self.number(ws, r, 3, n, "number")
            chart = BarChart()
            chart.title = f"Distribution of {label}"
            chart.add_data(Reference(ws, min_col=3, min_row=first - 1, max_row=r), titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=r))
            chart.gapWidth = 10
            chart.legend = None
            chart.x_axis.numFmt = FMT[kind]
            chart.height, chart.width = 7, 16
            ws.add_chart(chart, f"L{chart_row}")
            chart_row += 16
        ws.column_dimensions["A"].width = 44
        for j in range(2, 30):
            ws.column_dimensions[get_column_letter(j)].width = 13
        ws.freeze_panes = "B3"
        self.setup_print(ws)
        ws.print_area = f"A1:T{max(r, chart_row)}"

    def write_scenarios(self) -> None:
        ws = self.ws["Scenarios"]
        self.title(ws, "Scenarios (values from re-evaluations of the model)")
        scenarios = self.doc.get("scenarios")
        if not isinstance(scenarios, list) or not scenarios:
            self.empty_sheet(ws, "No scenarios were evaluated for this workbook (see `bizcase scenarios`).")
            return
        keys: list[str] = []
        for s in scenarios:
            for k in (s.get("kpis") or {}) if isinstance(s, Mapping) else {}:
                if k not in keys:
                    keys.append(k)
        c = self.text(ws, 3, 1, "KPI", HEADER_FONT)
        c.fill = HEADER_FILL
        for j, s in enumerate(scenarios, start=2):
            c = self.text(ws, 3, j, s.get("scenario", f"scenario {j - 1}") if isinstance(s, Mapping) else "?", HEADER_FONT)
            c.fill = HEADER_FILL
        for i, k in enumerate(keys, start=4):
            self.text(ws, i, 1, formatting.KPI_LABELS.get(k, k))
            for j, s in enumerate(scenarios, start=2):
                vals = s.get("kpis") or {} if isinstance(s, Mapping) else {}
                self.number(ws, i, j, vals.get(k), formatting.KPI_KINDS.get(k, "decimal"))
        r = len(keys) + 5
        overlays = self.case.data.get("scenarios") or {}
        if overlays:
            self.text(ws, r, 1, "Scenario overlays (values set on the base case)", SECTION_FONT)
            for i, (name, overlay) in enumerate(overlays.items(), start=r + 1):
                self.text(ws, i, 1, name)
                self.text(ws, i, 2, ", ".join(f"{k} = {v}" for k, v in dict(overlay).items()))
        ws.column_dimensions["A"].width = 44
        for j in range(2, len(scenarios) + 2):
            ws.column_dimensions[get_column_letter(j)].width = 18
        ws.freeze_panes = "B4"
        self.setup_print(ws, title_rows="3:3")


    def empty_sheet(self, ws: Worksheet, message: str) -> None:
        """A values sheet with nothing to show: one note saying why, set up for print."""
        self.text(ws, 3, 1, message, NOTE_FONT)
        ws.column_dimensions["A"].width = 100
        self.setup_print(ws)

    def write_sensitivity(self) -> None:
        ws = self.ws["Sensitivity"]
        self.title(ws, "Sensitivity: tornado and spider (values from re-evaluations of the model)")
        sens = self.doc.get("sensitivity")
        if not isinstance(sens, Mapping) or not sens.get("tornado"):
            self.empty_sheet(ws, "No sensitivity analysis was run for this workbook (see `bizcase run` and `bizcase sensitivity`).")
            return
        self.text(ws, 2, 1, "values: each bar re-evaluates the whole model (debt re-sized), like bizcase run --set", NOTE_FONT)
        method = sens.get("method")
        if method == "pct":
            how = f"Each input at its base value ± {sens.get('pct')} %, the others at base."
        else:
            how = "Each uncertain input at its P10 (low) and P90 (high), the others at base."
        self.text(ws, 3, 1, how, NOTE_FONT)
        base = sens.get("base") or {}
        rows = list(sens["tornado"])
        kpis = [str(k) for k in sens.get("kpis") or dict.fromkeys(str(row["kpi"]) for row in rows)]
        headers = ("Input", "Low value", "High value", "KPI at low", "KPI at high", "Swing |high − low|", "Low − base", "High − base")
        r = 5
        charts = []
        for kpi in kpis:
            group = [(i, row) for i, row in enumerate(rows) if row.get("kpi") == kpi]
            if not group:
                continue
            kind = formatting.KPI_KINDS.get(kpi, "decimal")
            label = formatting.KPI_LABELS.get(kpi, kpi)
            top = r
            self.text(ws, r, 1, f"Tornado: {label}", SECTION_FONT)
            self.text(ws, r, 2, "Base", TOTAL_FONT)
            self.number(ws, r, 3, base.get(kpi), kind)
            base_ref = f"$C${r}"
            r += 1
            for j, h in enumerate(headers, start=1):
                c = self.text(ws, r, j, h, HEADER_FONT)
                c.fill = HEADER_FILL
                c.alignment = Alignment(wrap_text=True)
            first = r + 1
            for i, row in group:
                r += 1
                path = str(row["input"])
                field_ = assumptions.field_of(path)
                input_fmt = _input_format(field_) if field_ is not None else FMT["decimal"]
                self.text(ws, r, 1, path)
                for col, key in ((2, "low_value"), (3, "high_value")):
                    self.number(ws, r, col, row.get(key), "decimal").number_format = input_fmt
                self.number(ws, r, 4, row.get("kpi_low"), kind)
                self.number(ws, r, 5, row.get("kpi_high"), kind)
                swing = ws.cell(row=r, column=6, value=f'=IF(COUNT(D{r}:E{r})=2,ABS(E{r}-D{r}),"n/a")')
                swing.number_format = FMT[kind]
                for col, source in ((7, "D"), (8, "E")):
                    delta = ws.cell(row=r, column=col, value=f'=IF(AND(ISNUMBER({source}{r}),ISNUMBER({base_ref})),{source}{r}-{base_ref},"n/a")')
                    delta.number_format = FMT[kind]
                while len(self.layout.tornado_rows) <= i:
                    self.layout.tornado_rows.append(0)
                self.layout.tornado_rows[i] = r
            charts.append((top, self.tornado_chart(ws, label, kind, first, r)))
            r = max(r + 2, top + BAND)
        for top, chart in charts:
            ws.add_chart(chart, f"J{top}")
        r = self.write_spider(ws, sens, kpis, r)
        ws.column_dimensions["A"].width = 44
        for j in range(2, 9):
            ws.column_dimensions[get_column_letter(j)].width = 15
        ws.freeze_panes = "B5"
        self.setup_print(ws)
        ws.print_area = f"A1:R{max(r, ws.max_row)}"

    def tornado_chart(self, ws: Worksheet, label: str, kind: str, first: int, last: int) -> BarChart:
        """Horizontal bars of KPI at low − base and KPI at high − base, largest swing on top."""
        chart = BarChart()
        chart.type = "bar"
        chart.grouping = "clustered"
        chart.overlap = 100
        chart.gapWidth = 40
        chart.title = f"Tornado: {label} (change from base)"
        chart.add_data(Reference(ws, min_col=7, max_col=8, min_row=first - 1, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
        chart.x_axis.scaling.orientation = "maxMin"  # first (largest) row on top
        chart.x_axis.tickLblPos = "low"  # input names beside the bars, left of negatives
        chart.y_axis.numFmt = FMT[kind]
        chart.y_axis.majorGridlines = None
        chart.height, chart.width = 8, 16
        return chart

    def write_spider(self, ws: Worksheet, sens: Mapping[str, Any], kpis: list[str], r: int) -> int:
        """The spider table: each input at base × (1 + change) and the KPIs there."""
        spider = sens.get("spider") or {}
        pcts = list(spider.get("pcts") or [])
        series = [s for s in spider.get("series") or [] if isinstance(s, Mapping)]
        if not pcts or not series:
            return r
        self.text(ws, r, 1, "Spider: each input at base × (1 + change), clipped to its allowed range; the others at base", SECTION_FONT)
        r += 1
        for j, h in enumerate(("Input", "Line", *(f"{p:+g} %" if p else "base" for p in pcts)), start=1):
            c = self.text(ws, r, j, h, HEADER_FONT)
            c.fill = HEADER_FILL
        for s in series:
            path = str(s.get("input"))
            field_ = assumptions.field_of(path)
            input_fmt = _input_format(field_) if field_ is not None else FMT["decimal"]
            where: dict[str, int] = {}
            r += 1
            self.text(ws, r, 1, path, TOTAL_FONT)
            self.text(ws, r, 2, "input value")
            for j, v in enumerate(s.get("values") or [], start=3):
                self.number(ws, r, j, v, "decimal").number_format = input_fmt
            where["values"] = r
            for kpi in kpis:
                r += 1
                self.text(ws, r, 1, path)
                self.text(ws, r, 2, formatting.KPI_LABELS.get(kpi, kpi))
                kind = formatting.KPI_KINDS.get(kpi, "decimal")
                for j, v in enumerate((s.get("kpis") or {}).get(kpi) or [], start=3):
                    self.number(ws, r, j, v, kind)
                where[kpi] = r
            self.layout.spider_rows.append(where)
        return r + 1


def _mc_kind(key: str) -> str:
    """Number format kind of a scalar of the Monte Carlo summary, by its name."""
    if key.startswith("prob") or key.endswith(("_hurdle", "_rate")):
        return "pct"
    if key.endswith("_eur"):
        return "eur_m"
    if key == "seed":
        return "index"
    return "number"


def _input_format(f: assumptions.Field) -> str:
    if f.unit.startswith("fraction"):
        return FMT["pct"] if f.kind == "float" else FMT["number"]
    if f.kind == "int":
        return "0" if f.unit in ("year", "years", "operating year") else FMT["number"]
    if f.unit.startswith("EUR") and "/" not in f.unit:
        return FMT["eur"]
    return FMT["decimal"]


def _validation(path: str, f: assumptions.Field, *, shape: bool = False) -> DataValidation | None:
    """The data validation rule of an input: the range or choices the engine checks.

    Numbers get a decimal (whole number for int fields) rule between the field's low and
    high, text with choices a list; an entry outside the rule is refused ("stop") with a
    message naming the key, the unit and the rule. Booleans, free text and lists of
    text have no rule. Returns None for them.
    """
    unit = f" [{f.unit}]" if f.unit and f.unit != "fraction" else ""
    if f.kind in ("float", "int", "floats") and (f.low is not None or f.high is not None):
        noun = "a whole number" if f.kind == "int" else "a fraction" if f.unit.startswith("fraction") else "a number"
        items = "each item " if f.kind == "floats" else ""
        if f.low is not None and f.high is not None:
            rule = DataValidation(type="decimal", operator="between", formula1=_xl_number(f.low), formula2=_xl_number(f.high))
        elif f.low is not None:
            rule = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1=_xl_number(f.low))
        else:
            assert f.high is not None
            rule = DataValidation(type="decimal", operator="lessThanOrEqual", formula1=_xl_number(f.high))
        if f.kind == "int":
            rule.type = "whole"
        message = f"{path}: {items}{noun} {f.rule()}{unit}"
    elif f.kind == "str" and f.choices:
        if any("," in c or '"' in c for c in f.choices):
            raise ValueError(f"{path}: choices with commas or quotes cannot form a list rule")
        rule = DataValidation(type="list", formula1='"' + ",".join(f.choices) + '"')
        message = f"{path}: {f.rule()}"
    else:
        return None
    rule.errorStyle = "stop"
    rule.showErrorMessage = True
    rule.errorTitle = "Input outside its allowed range"
    rule.error = message[:255]
    rule.showInputMessage = True
    shaped = " Shapes the workbook: change it in the assumptions file and re-run bizcase." if shape else ""
    rule.prompt = f"{f.doc or path}{unit}; {f.rule()}.{shaped}"[:255]
    return rule


def _xl_number(value: float) -> str:
    """A bound as an Excel formula constant: ``0``, ``0.99``, ``10000000``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _guess(value: Any) -> str:
    """The engine's IRR as the guess of Excel's IRR (0.1, Excel's default, when none)."""
    if _is_missing(value):
        return "0.1"
    return repr(float(value))


def _kpi_name(key: str) -> str | None:
    try:
        return defined_name(key)
    except ValueError:
        return None


def formula_cells(wb: Workbook) -> Iterable[Cell]:
    """Every formula cell of a workbook."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f":
                    yield c
