"""Assumptions: loading, validation, defaults, scenario overlays and dotted-path access.

An assumptions file is TOML. Units are in the key names (``_eur``, ``_eur_per_mwh``,
``_kw``, ``_years``); shares and rates are decimal fractions (0.85, not 85). Every key
has a documented default in :data:`SCHEMA`; any value may carry its provenance in a
sibling ``<key>_source`` string.

Validation happens once, here, at the boundary. Every problem of a file is collected
and reported at once in one :class:`~bizcase.errors.AssumptionError`, each line naming
the file, the dotted key, the value and the rule. Core functions downstream trust a
:class:`Case`.

Dotted paths name any value: ``revenue.price_decline``, and items of arrays of tables by
index, ``grants.0.share_of_eligible_capex``, ``partners.1.share``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import math
import re
import stat
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bizcase.errors import AssumptionError

MAX_FILE_BYTES = 1_000_000
SHARE_TOLERANCE = 1e-9
DEFAULT_FILE = Path("assumptions") / "gigafactory.toml"


@dataclass(frozen=True)
class Field:
    """One assumption key: its type, default, allowed range, unit and meaning."""

    kind: str  # "float" | "int" | "str" | "bool" | "floats" | "strs"
    default: Any
    low: float | None = None
    high: float | None = None
    unit: str = ""
    doc: str = ""
    choices: tuple[str, ...] = ()
    structural: bool = False  # shapes the timeline; cannot be uncertain

    def rule(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"between {_fmt(self.low)} and {_fmt(self.high)}"
        if self.low is not None:
            return f"at least {_fmt(self.low)}"
        if self.high is not None:
            return f"at most {_fmt(self.high)}"
        return ""


def _fmt(x: float) -> str:
    return f"{x:,.10g}" if abs(x) >= 1e4 else f"{x:.10g}"


F = Field
SHARE: dict[str, Any] = {"low": 0.0, "high": 1.0, "unit": "fraction"}

SECTIONS: dict[str, dict[str, Field]] = {
    "project": {
        "name": F("str", "Business case", doc="Project name, shown on every output"),
        "currency": F("str", "EUR", choices=("EUR",), doc="Currency of every amount"),
        "start_year": F("int", 2026, 1900, 2200, "year", "Calendar year of period 0", structural=True),
        "construction_years": F("int", 2, 1, 10, "years", "Years of construction before operation", structural=True),
        "operating_years": F("int", 20, 1, 60, "years", "Years of operation", structural=True),
        "discount_rate": F("float", 0.085, 0.0, 0.5, "fraction/year", "Nominal project discount rate (WACC)"),
        "inflation": F("float", 0.02, -0.05, 0.3, "fraction/year", "Escalation of opex items without their own escalation"),
        "discounting": F("str", "end", choices=("end", "mid"), doc="Cash flows at year end or mid-year"),
    },
    "site": {
        "gpus": F("int", 100_000, 1, 10_000_000, "GPUs", "Accelerators at full deployment"),
        "it_kw_per_gpu": F("float", 1.6, 0.01, 20.0, "kW/GPU", "All-in IT load per accelerator"),
        "pue": F("float", 1.2, 1.0, 3.0, "ratio", "Power usage effectiveness"),
        "availability": F("float", 0.97, 0.01, 1.0, "fraction", "Share of hours that can be sold"),
        "deployment": F("floats", [0.5, 0.5], 0.0, 1.0, "fraction", "Share of GPUs going live in operating years 1, 2, ...", structural=True),
    },
    "capex": {
        "facility_eur_per_mw": F("float", 10_000_000.0, 0.0, 1e9, "EUR/MW", "Building, power and cooling per MW of IT load"),
        "grid_and_land_eur": F("float", 100_000_000.0, 0.0, 1e11, "EUR", "Grid connection and land"),
        "spend_profile": F("floats", [0.45, 0.55], 0.0, 1.0, "fraction", "Facility spend per construction year", structural=True),
        "compute_eur_per_gpu": F("float", 36_000.0, 0.0, 1e7, "EUR/GPU", "Accelerator system incl. network and storage share"),
        "compute_cost_change": F("float", -0.05, -0.5, 0.5, "fraction/year", "Change of compute cost per year, applied to refresh purchases"),
        "compute_life_years": F("int", 5, 1, 30, "years", "Each compute cohort is replaced after this", structural=True),
        "compute_resale_share": F("float", 0.0, **SHARE, doc="Share of a compute cohort's purchase cost recovered when it is retired at refresh"),
        "facility_life_years": F("int", 20, 1, 100, "years", "Depreciation life of the facility", structural=True),
        "contingency": F("float", 0.05, 0.0, 1.0, "fraction", "Contingency on all capex"),
        "overrun": F("float", 0.0, -0.5, 3.0, "fraction", "Multiplier − 1 on all capex"),
        "residual_value_share": F("float", 0.25, **SHARE, doc="Share of remaining book value received in the last year"),
    },
    "public_access": {
        "share": F("float", 0.10, **SHARE, doc="Capacity reserved for research and start-ups"),
        "price_discount": F("float", 0.5, **SHARE, doc="Discount on market price for public access"),
    },
    "revenue": {
        "launch_price_eur_per_gpu_hour": F("float", 2.6, 0.0, 1000.0, "EUR/GPU-hour", "Market price of a new-generation GPU-hour in operating year 1"),
        "price_decline": F("float", 0.20, 0.0, 0.99, "fraction/year", "Price decline per year of a cohort's age"),
        "launch_price_change": F("float", 0.0, -0.5, 1.0, "fraction/year", "Change per year of the launch price of later generations"),
    },
    "utilization": {
        "start": F("float", 0.4, **SHARE, doc="Market utilization far before the midpoint"),
        "plateau": F("float", 0.85, **SHARE, doc="Market utilization at maturity"),
        "midpoint_year": F("float", 2.0, -50.0, 100.0, "operating year", "Operating year of the ramp's midpoint"),
        "steepness": F("float", 1.5, 0.0, 50.0, "1/year", "Steepness of the logistic ramp"),
    },
    "opex": {
        "power_price_eur_per_mwh": F("float", 130.0, 0.0, 10_000.0, "EUR/MWh", "All-in market power price in operating year 1"),
        "power_price_escalation": F("float", 0.02, -0.5, 1.0, "fraction/year", "Escalation of market and PPA power prices"),
        "ppa_share": F("float", 0.6, **SHARE, doc="Share of power bought under the PPA"),
        "ppa_price_eur_per_mwh": F("float", 95.0, 0.0, 10_000.0, "EUR/MWh", "All-in PPA price in operating year 1"),
        "idle_power_share": F("float", 0.35, **SHARE, doc="Draw of an idle GPU as share of full load"),
        "staff_eur_per_year": F("float", 16_500_000.0, 0.0, 1e10, "EUR/year", "Staff cost in operating year 1, escalated by inflation"),
        "maintenance_share_of_capex": F("float", 0.01, 0.0, 0.5, "fraction/year", "Maintenance as share of initial capex"),
        "insurance_share_of_capex": F("float", 0.0025, 0.0, 0.5, "fraction/year", "Insurance as share of initial capex"),
        "software_eur_per_gpu_year": F("float", 300.0, 0.0, 1e6, "EUR/GPU/year", "Software licences per live GPU"),
        "sga_share_of_revenue": F("float", 0.05, **SHARE, doc="Selling, general and administrative cost"),
    },
    "tax": {
        "rate": F("float", 0.30, 0.0, 0.99, "fraction", "Corporate income tax rate"),
        "loss_carry_forward": F("bool", True, doc="Tax losses are carried forward, without time limit"),
        "loss_offset_threshold_eur": F("float", 1e15, 0.0, 1e15, "EUR/year", "Losses brought forward offset profit in full up to this amount a year"),
        "loss_offset_share_above_threshold": F("float", 1.0, **SHARE, doc="Share of profit above the threshold that losses brought forward may offset"),
        "grants_reduce_asset_base": F("bool", True, doc="Grants reduce the depreciable base"),
        "capitalise_construction_interest": F("bool", True, doc="Interest capitalised during construction is added to the facility's depreciable base"),
    },
    "funding_gap": {
        "discount_rate": F("float", 0.04, 0.0, 0.5, "fraction/year", "Financial discount rate of the EU funding-gap method"),
        "rate_basis": F("str", "real", choices=("real", "nominal"), doc="Whether discount_rate is real (the EC guide's 4 %; made nominal with project.inflation, as the flows are nominal) or already nominal"),
    },
}

GRANT_ELIGIBLE = ("facility", "compute_initial", "compute_refresh")

ARRAYS: dict[str, dict[str, Field]] = {
    "grants": {
        "name": F("str", "Grant", doc="Grant name"),
        "share_of_eligible_capex": F("float", 0.0, **SHARE, doc="Share of eligible capex granted"),
        "cap_eur": F("float", 1e12, 0.0, 1e13, "EUR", "Cap on the grant amount"),
        "eligible": F("strs", ["facility", "compute_initial"], choices=GRANT_ELIGIBLE, doc="Eligible capex classes", structural=True),
    },
    "customers": {
        "name": F("str", "Customer", doc="Customer name"),
        "gpus": F("int", 0, 0, 10_000_000, "GPUs", "GPUs reserved under take-or-pay"),
        "price_eur_per_gpu_hour": F("float", 2.2, 0.0, 1000.0, "EUR/GPU-hour", "Contract price in the first contract year"),
        "first_operating_year": F("int", 1, 1, 60, "operating year", "First contract year", structural=True),
        "years": F("int", 5, 1, 60, "years", "Contract length", structural=True),
        "escalation": F("float", 0.0, -0.5, 1.0, "fraction/year", "Contract price escalation"),
    },
    "debt": {
        "name": F("str", "Senior loan", doc="Tranche name"),
        "gearing": F("float", 0.6, **SHARE, doc="Share of (initial capex − grants) funded by this tranche"),
        "interest_rate": F("float", 0.065, 0.0, 1.0, "fraction/year", "All-in interest rate"),
        "tenor_years": F("int", 10, 1, 60, "years", "Final maturity, counted from the first operating year", structural=True),
        "grace_years": F("int", 0, 0, 59, "years", "Operating years before the first repayment", structural=True),
        "repayment": F("str", "annuity", choices=("annuity", "linear", "sculpted"), doc="Repayment profile", structural=True),
        "target_dscr": F("float", 1.35, 1.0, 10.0, "x", "Target DSCR of a sculpted profile"),
        "min_dscr_covenant": F("float", 1.30, 0.0, 10.0, "x", "Minimum DSCR covenant"),
        "lockup_dscr": F("float", 0.0, 0.0, 10.0, "x", "Distributions are retained while the DSCR is below this"),
        "dsra_months": F("float", 0.0, 0.0, 24.0, "months", "Debt service reserve: months of the next year's debt service held in reserve"),
        "upfront_fee": F("float", 0.01, 0.0, 0.2, "fraction", "Fee on each drawdown"),
    },
    "partners": {
        "name": F("str", "Partner", doc="Partner name"),
        "share": F("float", 1.0, **SHARE, doc="Equity share"),
        "cost_of_equity": F("float", 0.12, 0.0, 1.0, "fraction/year", "Partner's cost of equity"),
    },
}

UNCERTAINTY_KEYS = ("simulations", "seed", "sampling", "variables", "correlation", "processes")
PROCESSES: dict[str, dict[str, Field]] = {
    "utilization_noise": {
        "sd": F("float", 0.0, 0.0, 1.0, "fraction", "Standard deviation of yearly market utilization noise"),
        "autocorrelation": F("float", 0.0, -0.99, 0.99, "", "Lag-1 autocorrelation of the noise"),
    },
    "power_price": {
        "sigma": F("float", 0.0, 0.0, 2.0, "", "Yearly shock of the log power-price deviation"),
        "reversion": F("float", 0.3, 0.0, 1.0, "1/year", "Mean reversion of the log deviation"),
    },
}
TOP_LEVEL = tuple(SECTIONS) + tuple(ARRAYS) + ("uncertainty", "scenarios")


@dataclass(frozen=True)
class Case:
    """A validated assumptions set.

    Attributes
    ----------
    data : dict
        Every key with defaults filled in; arrays of tables as lists of dicts.
    sources : dict
        Dotted path -> source text of every ``<key>_source`` given.
    file : str
        Where the assumptions came from (for messages and the manifest).
    sha256 : str
        SHA-256 of the file's bytes.
    scenario : str
        Name of the scenario overlay applied ("base" when none).
    overrides : dict
        Dotted path -> value of ``--set`` overrides applied.
    """

    data: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    file: str = "<memory>"
    sha256: str = ""
    scenario: str = "base"
    overrides: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        """Value at a dotted path."""
        return get_path(self.data, path)

    @property
    def scenario_names(self) -> list[str]:
        return list(self.data.get("scenarios", {}))

    @property
    def n_periods(self) -> int:
        p = self.data["project"]
        return int(p["construction_years"] + p["operating_years"])

    def with_values(self, values: Mapping[str, Any], *, label: str | None = None) -> Case:
        """A new validated case with values set at dotted paths (``--set``)."""
        raw = copy.deepcopy(self.data)
        problems: list[str] = []
        for path, value in values.items():
            _set_checked(raw, path, value, problems, self.file, "--set")
        _raise(problems, self.file)
        data, problems = _validate(raw, self.file)
        _raise(problems, self.file)
        overrides = {**self.overrides, **values}
        return Case(data, self.sources, self.file, self.sha256, label or self.scenario, overrides)

    def with_scenario(self, name: str) -> Case:
        """A new validated case with the overlay ``[scenarios.NAME]`` applied."""
        if name in ("base", "", None):
            return self
        scenarios = self.data.get("scenarios", {})
        if name not in scenarios:
            hint = _did_you_mean(name, list(scenarios))
            known = ", ".join(scenarios) or "none defined"
            raise AssumptionError(
                f"{self.file}: scenario {name!r} is not defined (scenarios: {known}){hint}"
            )
        raw = copy.deepcopy(self.data)
        problems: list[str] = []
        for path, value in scenarios[name].items():
            _set_checked(raw, path, value, problems, self.file, f"scenarios.{name}")
        _raise(problems, self.file)
        data, problems = _validate(raw, self.file)
        _raise(problems, self.file)
        return Case(data, self.sources, self.file, self.sha256, name, dict(self.overrides))

    def numeric_paths(self) -> list[str]:
        """Every dotted path of a scalar numeric input (the Inputs of the workbook)."""
        return [p for p, f, _ in iter_fields(self.data) if f.kind in ("float", "int")]


def iter_fields(data: Mapping[str, Any]) -> Iterator[tuple[str, Field, Any]]:
    """Yield ``(dotted path, field, value)`` for every schema key of validated data."""
    for section, fields in SECTIONS.items():
        for key, f in fields.items():
            yield f"{section}.{key}", f, data[section][key]
    for array, fields in ARRAYS.items():
        for i, item in enumerate(data[array]):
            for key, f in fields.items():
                yield f"{array}.{i}.{key}", f, item[key]


def field_of(path: str) -> Field | None:
    """Schema field of a dotted path, or None when the path names no scalar key."""
    parts = path.split(".")
    if len(parts) == 2 and parts[0] in SECTIONS:
        return SECTIONS[parts[0]].get(parts[1])
    if len(parts) == 3 and parts[0] in ARRAYS and parts[1].isdigit():
        return ARRAYS[parts[0]].get(parts[2])
    return None


def get_path(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(path)
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


def known_paths(data: Mapping[str, Any]) -> list[str]:
    return [p for p, _, _ in iter_fields(data)]


def check_numeric_path(data: Mapping[str, Any], path: str) -> str | None:
    """Why ``path`` cannot take a numeric value, or None when it can."""
    f = field_of(path)
    paths = known_paths(data)
    if f is None or path not in paths:
        return f"is not a known input{_did_you_mean(path, paths)}"
    if f.kind not in ("float", "int"):
        return "is not a numeric input"
    if f.structural:
        return "shapes the timeline and cannot vary"
    return None


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value (numbers, booleans, strings, lists)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load(path: str | Path, *, scenario: str | None = None, values: Mapping[str, Any] | None = None) -> Case:
    """Load, validate and prepare an assumptions file.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    scenario : str, optional
        Name of a ``[scenarios.NAME]`` overlay to apply.
    values : mapping, optional
        Dotted path -> value overrides applied after the scenario (``--set``).

    Raises
    ------
    AssumptionError
        With every problem of the file, each naming the file, key, value and rule.
    """
    file = str(path)
    raw_bytes = _read_capped(Path(path), file)
    case = loads(raw_bytes, file)
    if scenario:
        case = case.with_scenario(scenario)
    if values:
        case = case.with_values(values)
    return case


def loads(raw_bytes: bytes, file: str = "<memory>") -> Case:
    """Validate assumptions given as TOML bytes; see :func:`load`."""
    if len(raw_bytes) > MAX_FILE_BYTES:
        raise AssumptionError(_too_big(file, len(raw_bytes)))
    if b"\x00" in raw_bytes:
        raise AssumptionError(f"{file}: is a binary file (it contains NUL bytes), not TOML text")
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw_bytes[: exc.start].count(b"\n") + 1
        raise AssumptionError(
            f"{file}: is not UTF-8 text: byte {exc.start} (line {line}) is 0x{raw_bytes[exc.start]:02x}; "
            "save the file as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssumptionError(f"{file}: {_syntax_problem(text, exc)}") from None
    except RecursionError:
        raise AssumptionError(f"{file}: is nested too deeply to be an assumptions file") from None
    if not raw:
        raise AssumptionError(
            f"{file}: is empty (no keys, only blanks or comments); it needs at least "
            "[project] and [[partners]]; start from `bizcase init`"
        )
    sources: dict[str, str] = {}
    problems: list[str] = []
    raw = _split_sources(raw, sources, problems)
    data, more = _validate(raw, file)
    problems += more
    _raise(problems, file)
    sha = hashlib.sha256(raw_bytes).hexdigest()
    return Case(data, sources, file, sha)


# --- reading --------------------------------------------------------------------------


def _too_big(file: str, size: int) -> str:
    return f"{file}: file is {size:,} bytes or more; an assumptions file is at most {MAX_FILE_BYTES:,} bytes"


def _read_capped(p: Path, file: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES, read without trusting its size."""
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AssumptionError(f"{file}: no such assumptions file") from None
    except OSError as exc:
        raise AssumptionError(f"{file}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AssumptionError(f"{file}: is a folder, not an assumptions file")
    if not stat.S_ISREG(st.st_mode):
        raise AssumptionError(f"{file}: is not a regular file (a device, pipe or socket); give a .toml file")
    if st.st_size > MAX_FILE_BYTES:
        raise AssumptionError(_too_big(file, st.st_size))
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise AssumptionError(f"{file}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise AssumptionError(_too_big(file, len(data)))
    return data


_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)|\s*\(at end of document\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=\s*(.*)$")


def _key_parts(key: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+", key)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _scan_keys(text: str) -> list[tuple[int, str, str]]:
    """Best-effort ``(line, dotted key, value text)`` of every header and assignment.

    Used only to explain a syntax error tomllib has already found; headers are reported
    as ``[name]`` keys. Multi-line strings are skipped crudely.
    """
    found: list[tuple[int, str, str]] = []
    table: list[str] = []
    counts: dict[str, int] = {}
    in_string = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = ""
            continue
        header = _HEADER.match(line)
        if header:
            name = ".".join(_key_parts(header.group(2)))
            if header.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                table = [name, str(index)]
                found.append((number, f"[[{name}]] {index}", ""))
            else:
                table = [name]
                found.append((number, f"[{name}]", ""))
            continue
        assignment = _ASSIGNMENT.match(line)
        if assignment:
            value = assignment.group(2).strip()
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    in_string = quote
            key = ".".join([*table, *_key_parts(assignment.group(1))])
            found.append((number, key, value))
    return found


def _syntax_problem(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """Explain a TOML syntax error as ``key = value: rule``, with its line and column."""
    message = str(exc)
    position = _POSITION.search(message)
    reason = _POSITION.sub("", message).strip()
    line = int(position.group(1)) if position and position.group(1) else None
    column = int(position.group(2)) if position and position.group(2) else None
    keys = _scan_keys(text)
    if reason.startswith(("Cannot overwrite", "Cannot declare", "Cannot mutate")):
        first: dict[str, int] = {}
        for number, key, _ in keys:
            if key in first and not key.startswith("[["):
                return (
                    f"{key} is defined twice (lines {first[key]} and {number}); "
                    "TOML allows each key and table once"
                )
            first.setdefault(key, number)
    where = f"line {line}, column {column}" if line is not None else "the end of the file"
    lines = text.splitlines()
    source = lines[line - 1].strip() if line is not None and 0 < line <= len(lines) else ""
    on_line = [(key, value) for number, key, value in keys if number == line and not key.startswith("[")]
    if on_line:
        key, value = on_line[-1]
        return f"{key} = {_show_raw(value)}: TOML syntax error at {where} ({reason})"
    before = [key for number, key, _ in keys if line is not None and number < line]
    context = f" after {before[-1]}" if before else ""
    shown = f": {_show_raw(source)}" if source else ""
    return f"TOML syntax error at {where}{context} ({reason}){shown}"


def _show_raw(text: str) -> str:
    text = text.strip()
    return text if len(text) <= 60 else text[:57] + "..."


# --- validation -----------------------------------------------------------------------


_raise = AssumptionError.raise_if_any


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _split_sources(raw: dict[str, Any], sources: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """Move every ``<key>_source`` string out of the tables into ``sources``."""

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            path = f"{prefix}{key}"
            if key.endswith("_source") and not prefix.startswith(("scenarios.", "uncertainty.variables.")):
                base = key[: -len("_source")]
                if not isinstance(value, str):
                    problems.append(f"{path} = {_show(value)}: a source must be text")
                elif base not in node:
                    problems.append(f"{path}: documents {prefix}{base}, which is not set")
                else:
                    sources[f"{prefix}{base}"] = value
                continue
            if isinstance(value, dict) and path not in ("scenarios", "uncertainty.variables") and not prefix.startswith(("scenarios.", "uncertainty.variables.")):
                out[key] = walk(value, f"{path}.")
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                out[key] = [walk(v, f"{path}.{i}.") for i, v in enumerate(value)]
            else:
                out[key] = value
        return out

    return walk(raw, "")


def _check_value(path: str, f: Field, value: Any, problems: list[str]) -> Any:
    """Check one value against its field; return the normalised value or None."""

    def bad(rule: str) -> None:
        problems.append(f"{path} = {_show(value)}: {rule}")

    if f.kind in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = ""
            if isinstance(value, str):
                hint = " (write a plain number: 0.05 not \"5%\", 1000 or 1_000 not \"1,000\")"
            bad(f"must be a number {f.rule()}{hint}".replace("number  ", "number "))
            return None
        if isinstance(value, float) and not math.isfinite(value):
            bad("must be a finite number")
            return None
        if f.kind == "int" and isinstance(value, float):
            if not value.is_integer():
                bad(f"must be a whole number {f.rule()}")
                return None
            value = int(value)
        if (f.low is not None and value < f.low) or (f.high is not None and value > f.high):
            hint = ""
            if f.unit.startswith("fraction") and 1 < value <= 100:
                hint = f" (a fraction: write {value / 100:g} for {value:g} %)"
            bad(f"must be {f.rule()}{' [' + f.unit + ']' if f.unit else ''}{hint}")
            return None
        return float(value) if f.kind == "float" else int(value)
    if f.kind == "bool":
        if not isinstance(value, bool):
            bad("must be true or false")
            return None
        return value
    if f.kind == "str":
        if not isinstance(value, str):
            bad("must be text in quotes")
            return None
        if f.choices and value not in f.choices:
            bad(f"must be {f.rule()}{_did_you_mean(value, list(f.choices))}")
            return None
        if not value.strip():
            bad("must not be blank")
            return None
        if len(value) > 200:
            bad("must be at most 200 characters")
            return None
        hidden = _hidden_character(value)
        if hidden:
            bad(f"must not contain control or invisible characters ({hidden})")
            return None
        return value
    if f.kind == "floats":
        if not isinstance(value, list) or not value:
            bad("must be a non-empty list of numbers")
            return None
        out = []
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                bad(f"item {i} must be a finite number")
                return None
            if (f.low is not None and v < f.low) or (f.high is not None and v > f.high):
                bad(f"item {i} = {v!r} must be {f.rule()}")
                return None
            out.append(float(v))
        return out
    if f.kind == "strs":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            bad(f"must be a non-empty list of {f.rule() or 'text'}")
            return None
        for v in value:
            if f.choices and v not in f.choices:
                bad(f"item {v!r} must be {f.rule()}{_did_you_mean(v, list(f.choices))}")
                return None
        if len(set(value)) != len(value):
            bad("lists an item twice")
            return None
        return list(value)
    raise AssertionError(f.kind)


def _check_table(path: str, fields: dict[str, Field], table: Any, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(table, dict):
        problems.append(f"{path} = {_show(table)}: must be a table [{path}]")
        table = {}
    for key in table:
        if key not in fields:
            problems.append(f"{path}.{key} = {_show(table[key])}: unknown key{_did_you_mean(key, list(fields))}")
    for key, f in fields.items():
        if key in table:
            out[key] = _check_value(f"{path}.{key}", f, table[key], problems)
        else:
            out[key] = copy.deepcopy(f.default)
    return out


def _validate(raw: dict[str, Any], file: str) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    data: dict[str, Any] = {}
    for key in raw:
        if key not in TOP_LEVEL:
            problems.append(f"{key} = {_show(raw[key])}: unknown section or key{_did_you_mean(key, list(TOP_LEVEL))}")
    for section, fields in SECTIONS.items():
        data[section] = _check_table(section, fields, raw.get(section, {}), problems)
    for array, fields in ARRAYS.items():
        items = raw.get(array, [])
        if isinstance(items, dict):
            problems.append(f"{array}: must be an array of tables, written [[{array}]]")
            items = []
        if not isinstance(items, list):
            problems.append(f"{array} = {_show(items)}: must be an array of tables, written [[{array}]]")
            items = []
        data[array] = [_check_table(f"{array}.{i}", fields, item, problems) for i, item in enumerate(items)]
    before = len(problems)
    data["uncertainty"] = _check_uncertainty(raw.get("uncertainty", {}), problems)
    if len(problems) == before:
        problems.extend(_check_uncertain_inputs(data, file))
    scenarios = raw.get("scenarios", {})
    if not isinstance(scenarios, dict) or not all(isinstance(v, dict) for v in scenarios.values()):
        problems.append("scenarios: each scenario must be a table [scenarios.NAME]")
        scenarios = {}
    for name in scenarios:
        _check_scenario_name(name, problems)
    data["scenarios"] = scenarios
    if not problems:
        _check_consistency(data, problems)
    if not problems:
        _check_overlays(data, problems)
    return data, problems


def _check_uncertainty(raw: Any, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "simulations": 0,
        "seed": 0,
        "sampling": "lhs",
        "variables": {},
        "correlation": {"pairs": []},
        "processes": {name: {k: f.default for k, f in fs.items()} for name, fs in PROCESSES.items()},
    }
    if not isinstance(raw, dict):
        problems.append("uncertainty: must be a table [uncertainty]")
        return out
    for key in raw:
        if key not in UNCERTAINTY_KEYS:
            problems.append(f"uncertainty.{key} = {_show(raw[key])}: unknown key{_did_you_mean(key, list(UNCERTAINTY_KEYS))}")
    sims = F("int", 0, 0, 10_000_000, "paths")
    seed = F("int", 0, 0, 2**63 - 1)
    sampling = F("str", "lhs", choices=("lhs", "sobol", "random"))
    for key, f in (("simulations", sims), ("seed", seed), ("sampling", sampling)):
        if key in raw:
            out[key] = _check_value(f"uncertainty.{key}", f, raw[key], problems)
    variables = raw.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, dict) for v in variables.values()):
        problems.append('uncertainty.variables: each variable must be an inline table, e.g. "utilization.plateau" = { dist = "uniform", low = 0.6, high = 0.9 }')
        variables = {}
    out["variables"] = variables
    corr = raw.get("correlation", {"pairs": []})
    if not isinstance(corr, dict) or set(corr) - {"pairs"}:
        problems.append("uncertainty.correlation: must be a table with one key, pairs = [[a, b, rho], ...]")
        corr = {"pairs": []}
    pairs = corr.get("pairs", [])
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 3 and isinstance(p[0], str) and isinstance(p[1], str)
        and isinstance(p[2], int | float) and not isinstance(p[2], bool)
        for p in pairs
    ):
        problems.append('uncertainty.correlation.pairs: must be a list of [path_a, path_b, rho] triples, e.g. [["utilization.plateau", "revenue.price_decline", -0.4]]')
        pairs = []
    out["correlation"] = {"pairs": pairs}
    processes = raw.get("processes", {})
    if not isinstance(processes, dict):
        problems.append("uncertainty.processes: must be a table")
        processes = {}
    for name in processes:
        if name not in PROCESSES:
            problems.append(f"uncertainty.processes.{name} = {_show(processes[name])}: unknown process{_did_you_mean(name, list(PROCESSES))}")
    for name, fields in PROCESSES.items():
        if name in processes:
            out["processes"][name] = _check_table(f"uncertainty.processes.{name}", fields, processes[name], problems)
    return out


def _check_consistency(data: dict[str, Any], problems: list[str]) -> None:
    """Rules that involve several keys."""
    proj, site, capex = data["project"], data["site"], data["capex"]
    n_op = proj["operating_years"]

    def share_sum(path: str, values: list[float]) -> None:
        total = math.fsum(values)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            problems.append(f"{path} = {_show(values)}: shares sum to {total:.10g}; they must sum to 1")

    share_sum("site.deployment", site["deployment"])
    if len(site["deployment"]) > n_op:
        problems.append(
            f"site.deployment = {_show(site['deployment'])}: has {len(site['deployment'])} phases; "
            f"at most project.operating_years = {n_op}"
        )
    share_sum("capex.spend_profile", capex["spend_profile"])
    if len(capex["spend_profile"]) != proj["construction_years"]:
        problems.append(
            f"capex.spend_profile = {_show(capex['spend_profile'])}: has {len(capex['spend_profile'])} "
            f"shares; it needs one per construction year (project.construction_years = {proj['construction_years']})"
        )
    if data["utilization"]["start"] > data["utilization"]["plateau"] + 1e-12 and False:
        pass  # a falling ramp is allowed
    partners = data["partners"]
    if not partners:
        problems.append("partners: at least one [[partners]] table is required")
    else:
        share_sum("partners.*.share", [p["share"] for p in partners])
    _unique_names("partners", partners, problems)
    _unique_names("grants", data["grants"], problems)
    _unique_names("debt", data["debt"], problems)
    _unique_names("customers", data["customers"], problems)
    gearing = math.fsum(d["gearing"] for d in data["debt"])
    if gearing > 1.0 + SHARE_TOLERANCE:
        problems.append(f"debt.*.gearing: tranches sum to {gearing:.10g}; at most 1")
    for i, d in enumerate(data["debt"]):
        if d["tenor_years"] > n_op:
            problems.append(
                f"debt.{i}.tenor_years = {d['tenor_years']}: must be at most project.operating_years = {n_op}"
            )
        last_draw_op_year = len(site["deployment"]) - 1  # compute of the last phase is paid in this operating year
        first_repayment = max(d["grace_years"] + 1, last_draw_op_year + 1)
        if first_repayment > d["tenor_years"]:
            problems.append(
                f"debt.{i}.tenor_years = {d['tenor_years']}: leaves no repayment year after grace "
                f"({d['grace_years']}) and the last drawdown (operating year {last_draw_op_year}); "
                f"must be at least {first_repayment}"
            )
    anchor = sum(c["gpus"] for c in data["customers"])
    public = data["public_access"]["share"] * site["gpus"]
    if anchor + public > site["gpus"]:
        problems.append(
            f"customers.*.gpus: anchor customers take {anchor:,} GPUs and public access "
            f"{public:,.0f}; together at most site.gpus = {site['gpus']:,}"
        )
    for i, c in enumerate(data["customers"]):
        if c["first_operating_year"] > n_op:
            problems.append(
                f"customers.{i}.first_operating_year = {c['first_operating_year']}: must be at most "
                f"project.operating_years = {n_op}"
            )


def _unique_names(array: str, items: list[dict[str, Any]], problems: list[str]) -> None:
    """Names must differ after Unicode NFKC normalisation, case folding and trimming."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = " ".join(unicodedata.normalize("NFKC", item.get("name") or "").casefold().split())
        if name in seen:
            problems.append(
                f"{array}.{i}.name = {_show(item['name'])}: names must be unique "
                f"(the same as {array}.{seen[name]}.name = {_show(items[seen[name]]['name'])})"
            )
        seen.setdefault(name, i)


def _check_scenario_name(name: str, problems: list[str]) -> None:
    """A scenario name is shown in every output: visible text, not "base", at most 60 characters."""
    where = f"scenarios.{_show(name)}"
    hidden = _hidden_character(name)
    if not name.strip():
        problems.append(f"{where}: a scenario name must not be blank")
    elif name.strip().casefold() == "base":
        problems.append(f"{where}: 'base' names the case without overlays; call the scenario otherwise")
    elif len(name) > 60:
        problems.append(f"{where}: a scenario name must be at most 60 characters")
    elif hidden:
        problems.append(f"{where}: a scenario name must not contain control or invisible characters ({hidden})")


def _hidden_character(text: str) -> str:
    """Describe the first control, format (zero-width, bidi) or unassigned character, if any."""
    for position, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            name = unicodedata.name(char, "control character")
            return f"U+{ord(char):04X} {name} at position {position}"
    return ""


def _check_uncertain_inputs(data: dict[str, Any], file: str) -> list[str]:
    """Problems of the uncertain inputs and their correlations, reported with the rest.

    The rules (known numeric path, valid distribution within the input's range, jointly
    possible rank correlations) belong to :func:`bizcase.simulate.check_spec`; it is
    imported here, not at module level, because it imports this module.
    """
    unc = data["uncertainty"]
    if not unc["variables"] and not unc["correlation"]["pairs"]:
        return []
    from bizcase import simulate

    prefix = f"{file}: "
    return [p.removeprefix(prefix) for p in simulate.check_spec(data, file)]


def _set_checked(raw: dict[str, Any], path: str, value: Any, problems: list[str], file: str, where: str) -> None:
    """Set a dotted path in raw data, recording a problem if the path is not a scalar key."""
    f = field_of(path)
    parts = path.split(".")
    try:
        container = get_path(raw, ".".join(parts[:-1]))
    except KeyError:
        container = None
    if f is None or not isinstance(container, dict):
        problems.append(f"{where}: {path!r} is not a known input{_did_you_mean(path, known_paths(raw) if _complete(raw) else [])}")
        return
    container[parts[-1]] = value


def _complete(raw: dict[str, Any]) -> bool:
    return all(s in raw for s in SECTIONS) and all(a in raw for a in ARRAYS)


def _check_overlays(data: dict[str, Any], problems: list[str]) -> None:
    """Every scenario names known inputs and gives values that validate."""
    for name, overlay in data["scenarios"].items():
        trial = copy.deepcopy(data)
        trial["scenarios"] = {}
        local: list[str] = []
        for path, value in overlay.items():
            _set_checked(trial, path, value, local, "", f"scenarios.{name}")
        if not local:
            _, more = _validate(trial, "")
            local = [f"scenarios.{name}: {m}" for m in more]
        problems.extend(local)
