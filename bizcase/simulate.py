"""Monte Carlo simulation of the business case, in chunks, with reproducible seeds.

This module owns the ``[uncertainty]`` section at run time: it turns the spec into
distributions, a rank-correlation matrix and time-series processes
(:mod:`bizcase.uncertainty`), draws the paths, evaluates them with the one engine
(:func:`bizcase.engine.evaluate`) and reduces them to the ``monte_carlo`` block of
``results.json``. It writes nothing and prints nothing.

Conventions
-----------
Seeds
    Paths are drawn in *blocks* of :data:`BLOCK_SIZE` paths (the last block may be
    shorter). Block ``b`` takes its randomness from the ``b``-th child of
    ``np.random.SeedSequence(seed)`` and from nothing else, in a fixed order: its
    uniforms for the uncertain inputs, then the normals of the utilization noise, then
    those of the power price. A *chunk* groups whole blocks for execution only, so the
    result is identical for the same seed whatever the chunk size, the number of worker
    threads or the order in which chunks finish.
Sampling
    Latin-hypercube strata and Sobol' points are per block: each block of 8,192 paths is
    a Latin hypercube (or a scrambled Sobol' set, balanced since 8,192 is a power of
    two) of its own, and the rank correlations are imposed within each block
    (Iman–Conover). With fewer paths than a block, the whole run is one hypercube.
Debt
    Sized once, on the base case, and held fixed on every path (lenders do not re-size
    per scenario); each path has its own CFADS, DSCRs, covenant breach and equity calls.
IRR on a path
    Every path is solved with :func:`bizcase.finance.irr`, the same function and rule
    as the base case: the unique root where the flows change sign once, and where they
    change sign several times (GPU refreshes funded by equity calls) the root nearest
    10 %, the spreadsheets' default guess, among the sign changes of the NPV on a grid
    of rates. A path's IRR does not depend on the other paths of its chunk. NaN where
    the NPV does not change sign on that grid.
Partners
    Partners contribute and receive pro rata to their shares, so every partner's IRR
    equals the equity IRR: it is computed once. Their NPVs differ by share and cost of
    equity.
Probabilities of an IRR below a hurdle
    A path counts as below when its IRR is below the hurdle; a path without an IRR
    (NaN) counts as below when its NPV at the hurdle is negative. That includes every
    path whose flows never pay back (cumulative flow always negative), and excludes
    paths that never need funding.
Yearly bands
    Percentiles per year of market utilization, revenue, CFADS and equity cash flow,
    from the paths of the first :data:`BAND_PATHS` (all paths when fewer), kept as
    float32 to bound memory. The sampling error of a P5 from 262,144 paths is about
    0.04 percentile points.
Units
    KPIs keep the engine's units: ``_eur`` [EUR], IRRs [fraction/year], years [year],
    DSCR [x], LCOC [EUR/GPU-hour], lock-up years [years].
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bizcase import assumptions, uncertainty
from bizcase.assumptions import Case
from bizcase.engine import DebtSchedule, ModelResult, evaluate
from bizcase.errors import AssumptionError

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]

#: Paths per block: the unit of randomness (one SeedSequence child, one hypercube).
BLOCK_SIZE = 8192
#: Default paths per chunk, the unit of execution (a multiple of BLOCK_SIZE).
DEFAULT_CHUNK_SIZE = 2 * BLOCK_SIZE
#: Paths whose yearly values feed the percentile bands.
BAND_PATHS = 32 * BLOCK_SIZE
#: Percentiles reported for every KPI and band.
PERCENTILES = (5, 10, 50, 90, 95)
#: Yearly lines with percentile bands.
BAND_LINES = ("market_utilization", "revenue_eur", "cfads_eur", "equity_cash_flow_eur")
#: KPIs with a histogram, and its number of bins.
HISTOGRAM_KPIS = ("project_npv_eur", "equity_irr")
HISTOGRAM_BINS = 40
#: KPIs with rank-correlation sensitivities to the inputs.
SENSITIVITY_KPIS = ("project_npv_eur", "equity_irr")
#: Per-path KPIs of the engine that are summarised (the covenant breach is a probability).
KPI_NAMES = (
    "project_npv_eur", "project_irr", "equity_npv_eur", "equity_irr", "min_dscr", "avg_dscr",
    "llcr", "payback_year", "equity_payback_year", "peak_equity_exposure_eur",
    "lcoc_eur_per_gpu_hour", "total_capex_eur", "refresh_capex_eur", "grants_eur", "equity_eur",
    "lockup_years",
)

# Inputs the engine reads once for the whole run, with the reason given to the user.
_FIXED_ON_EVERY_PATH = {
    "project.discount_rate": "is the valuation rate, not a risk; change it with a scenario or --set",
    "funding_gap": "is an analysis setting, not a risk; change it with a scenario or --set",
    "debt": "sizes the debt, which is fixed on the base case for every path as lenders do; change it with a scenario or --set",
    "partners": "sets how equity is split and valued, which is the same on every path; change it with a scenario or --set",
}


# --------------------------------------------------------------------------- #
# Result
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class MonteCarloResult:
    """Everything a Monte Carlo run produced.

    Attributes
    ----------
    summary : dict
        The ``monte_carlo`` block of ``results.json`` (JSON-ready after
        :func:`bizcase.results.clean`, which turns NaN into null); see :func:`summarise`.
    kpis : dict[str, ndarray]
        KPI name -> per-path values, shape (n_paths,), in the engine's units; NaN where
        a path has no value (no IRR, never paid back). Includes
        ``dscr_covenant_breach`` (1.0 or 0.0).
    partner_npv_eur : ndarray, shape (n_partners, n_paths)
        Each partner's NPV at its own cost of equity [EUR]. (Every partner's IRR is
        ``kpis["equity_irr"]``.)
    inputs : ndarray, shape (n_paths, k)
        Sampled values of the uncertain inputs, columns in ``input_names`` order
        [their units].
    input_names : tuple of str
        Dotted paths of the uncertain inputs.
    years : ndarray, shape (T,)
        Calendar year of each period [year].
    band_values : dict[str, ndarray]
        Line -> yearly values of the first ``min(n_paths, BAND_PATHS)`` paths, shape
        (n_band_paths, T), float32 [the line's unit].
    debt : DebtSchedule
        The debt schedule, sized on the base case and used on every path.
    """

    summary: dict[str, Any]
    kpis: dict[str, FloatArray]
    partner_npv_eur: FloatArray
    inputs: FloatArray
    input_names: tuple[str, ...]
    years: FloatArray
    band_values: dict[str, npt.NDArray[np.float32]]
    debt: DebtSchedule


# --------------------------------------------------------------------------- #
# Validation of the [uncertainty] spec
# --------------------------------------------------------------------------- #


def _variable_key(path: str) -> str:
    return f'uncertainty.variables."{path}"'


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _error_lines(exc: AssumptionError) -> list[str]:
    return [line for line in str(exc).splitlines() if line.strip()]


def check_spec(case_data: Mapping[str, Any], file: str) -> list[str]:
    """Every problem of the ``[uncertainty]`` variables and correlations of a case.

    Parameters
    ----------
    case_data : mapping
        Validated assumptions (``Case.data``), with ``uncertainty.variables`` (dotted
        path -> distribution table) and ``uncertainty.correlation.pairs``.
    file : str
        The assumptions file, for messages; problems do not repeat it (the loader
        prefixes it, as for every other problem of the file).

    Returns
    -------
    list of str
        One ``"key = value: rule"`` line per problem; empty when the spec is valid.

    Notes
    -----
    Rules: the path names a known numeric input (with a did-you-mean), that does not
    shape the timeline, and that the engine varies per path (not the valuation rate,
    debt terms or partner terms); the distribution's parameters are valid
    (:func:`bizcase.uncertainty.make_distribution`); every value it can draw (its
    quantiles at 1e-12 and 1 − 1e-12, the samplers' extreme uniforms) lies within the
    input's allowed range, else ``truncate`` is suggested; the rank correlations name
    uncertain inputs and are jointly possible
    (:func:`bizcase.uncertainty.build_correlation_matrix`).

    Examples
    --------
    >>> from bizcase import assumptions
    >>> data = assumptions.load(assumptions.DEFAULT_FILE).data
    >>> check_spec(data, "x.toml")
    []
    """
    del file  # problems are prefixed with the file by the caller
    problems: list[str] = []
    unc = case_data.get("uncertainty", {})
    variables = unc.get("variables", {}) or {}
    for path, spec in variables.items():
        key = _variable_key(path)
        reason = assumptions.check_numeric_path(case_data, path)
        if reason is None:
            reason = _fixed_reason(path)
        if reason is not None:
            problems.append(f"{key} = {_show(spec)}: {reason}")
            continue
        try:
            distribution = uncertainty.make_distribution(spec, key)
        except AssumptionError as exc:
            problems.extend(_error_lines(exc))
            continue
        problem = _support_problem(path, spec, distribution)
        if problem:
            problems.append(f"{key} = {_show(spec)}: {problem}")
    pairs = unc.get("correlation", {}).get("pairs", []) or []
    if pairs:
        try:
            uncertainty.build_correlation_matrix(list(variables), pairs, "uncertainty.correlation")
        except AssumptionError as exc:
            problems.extend(_error_lines(exc))
    return problems


def _fixed_reason(path: str) -> str | None:
    for prefix, reason in _FIXED_ON_EVERY_PATH.items():
        if path == prefix or path.startswith(prefix + "."):
            return "cannot be uncertain: it " + reason
    return None


def _support_problem(path: str, spec: Mapping[str, Any], distribution: uncertainty.Distribution) -> str | None:
    """Why the distribution can draw values the input does not allow, or None."""
    field = assumptions.field_of(path)
    if field is None:
        return None
    # the samplers keep uniforms within [eps, 1 - eps]: these are the extreme draws
    low, high = (float(v) for v in distribution.ppf([uncertainty.UNIFORM_EPS, 1.0 - uncertainty.UNIFORM_EPS]))
    too_low = field.low is not None and low < field.low
    too_high = field.high is not None and high > field.high
    if not (too_low or too_high):
        return None
    allowed_low = "-inf" if field.low is None else f"{field.low:g}"
    allowed_high = "inf" if field.high is None else f"{field.high:g}"
    unit = f" [{field.unit}]" if field.unit else ""
    return (
        f"the distribution draws values from {low:.6g} to {high:.6g}, outside the input's allowed "
        f"range [{allowed_low}, {allowed_high}]{unit}; add truncate = [{allowed_low}, {allowed_high}]"
    )


_raise_problems = AssumptionError.raise_if_any


# --------------------------------------------------------------------------- #
# The plan: everything fixed before the first path is drawn
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Plan:
    """Distributions, correlation, processes and debt of one run."""

    case: Case
    names: tuple[str, ...]
    distributions: tuple[uncertainty.Distribution, ...]
    correlation: FloatArray | None
    sampling: str
    utilization_noise: tuple[float, float]  # sd [fraction], autocorrelation [-]
    power_price: tuple[float, float]  # sigma [-], reversion [1/year]
    debt: DebtSchedule
    n_periods: int
    seed_children: tuple[np.random.SeedSequence, ...]


def _plan(case: Case, n_paths: int, seed: int, sampling: str, base: ModelResult | None) -> _Plan:
    _raise_problems(check_spec(case.data, case.file), case.file)
    if sampling not in uncertainty.SAMPLING_METHODS:
        _raise_problems([f"uncertainty.sampling = {sampling!r}: one of "
                         + ", ".join(uncertainty.SAMPLING_METHODS)], case.file)
    unc = case.data["uncertainty"]
    names = tuple(unc["variables"])
    distributions = tuple(
        uncertainty.make_distribution(unc["variables"][name], _variable_key(name)) for name in names
    )
    pairs = unc.get("correlation", {}).get("pairs", []) or []
    correlation = None
    if pairs:
        correlation, _ = uncertainty.build_correlation_matrix(list(names), pairs, "uncertainty.correlation")
    processes = unc["processes"]
    noise = processes["utilization_noise"]
    power = processes["power_price"]
    if base is None:
        base = evaluate(case)
    n_blocks = -(-n_paths // BLOCK_SIZE)
    return _Plan(
        case=case,
        names=names,
        distributions=distributions,
        correlation=correlation,
        sampling=sampling,
        utilization_noise=(float(noise["sd"]), float(noise["autocorrelation"])),
        power_price=(float(power["sigma"]), float(power["reversion"])),
        debt=base.debt,
        n_periods=case.n_periods,
        seed_children=tuple(np.random.SeedSequence(seed).spawn(n_blocks)),
    )


# --------------------------------------------------------------------------- #
# Drawing and evaluating paths
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Draws:
    """Sampled inputs and process paths of some blocks."""

    inputs: FloatArray  # (n, k)
    utilization_noise: FloatArray | None  # (n, T)
    power_price_multiplier: FloatArray | None  # (n, T)


def _draw_block(plan: _Plan, block: int, size: int) -> _Draws:
    """Draw one block from its own SeedSequence child, in a fixed order."""
    rng = np.random.default_rng(plan.seed_children[block])
    k = len(plan.names)
    inputs = np.empty((size, k))
    if k:
        uniforms = uncertainty.sample_uniforms(size, k, plan.sampling, rng)
        if plan.correlation is not None:
            uniforms = uncertainty.rank_correlate(uniforms, plan.correlation)
        for column, distribution in enumerate(plan.distributions):
            inputs[:, column] = distribution.ppf(uniforms[:, column])
    T = plan.n_periods
    noise = None
    sd, autocorrelation = plan.utilization_noise
    if sd > 0.0:
        noise = uncertainty.ar1_noise(rng, size, T, sd, autocorrelation)
    multiplier = None
    sigma, reversion = plan.power_price
    if sigma > 0.0:
        multiplier = uncertainty.mean_reverting_log_deviation(rng, size, T, sigma, reversion)
    return _Draws(inputs, noise, multiplier)


def _block_sizes(n_paths: int) -> list[int]:
    full, rest = divmod(n_paths, BLOCK_SIZE)
    return [BLOCK_SIZE] * full + ([rest] if rest else [])


def _draw(plan: _Plan, first_block: int, sizes: Sequence[int]) -> _Draws:
    blocks = [_draw_block(plan, first_block + i, size) for i, size in enumerate(sizes)]

    def stack(arrays: list[FloatArray | None]) -> FloatArray | None:
        present = [a for a in arrays if a is not None]
        return np.concatenate(present) if present else None

    return _Draws(
        np.concatenate([b.inputs for b in blocks]),
        stack([b.utilization_noise for b in blocks]),
        stack([b.power_price_multiplier for b in blocks]),
    )


def _evaluate_draws(plan: _Plan, draws: _Draws, *, checks: bool = False) -> ModelResult:
    n = draws.inputs.shape[0]
    values = {name: draws.inputs[:, i] for i, name in enumerate(plan.names)}
    return evaluate(
        plan.case, values, n_paths=n, utilization_noise=draws.utilization_noise,
        power_price_multiplier=draws.power_price_multiplier, debt=plan.debt, checks=checks,
    )


@dataclass(frozen=True)
class _Chunk:
    """Per-path outputs of one chunk."""

    start: int
    kpis: dict[str, FloatArray]
    partner_npv_eur: FloatArray  # (n_partners, n)
    inputs: FloatArray
    band_values: dict[str, npt.NDArray[np.float32]]  # empty beyond BAND_PATHS


def _run_chunk(plan: _Plan, start: int, first_block: int, sizes: Sequence[int]) -> _Chunk:
    draws = _draw(plan, first_block, sizes)
    result = _evaluate_draws(plan, draws)
    n = result.n_paths
    kpis = {name: np.asarray(result.kpis[name], dtype=float).reshape(n) for name in (*KPI_NAMES, "dscr_covenant_breach")}
    partner_npv = np.stack([np.asarray(p["npv_eur"], dtype=float).reshape(n) for p in result.partners])
    keep = max(0, min(n, BAND_PATHS - start))
    bands = {line: result.line(line)[:keep].astype(np.float32) for line in BAND_LINES} if keep else {}
    return _Chunk(start, kpis, partner_npv, draws.inputs, bands)


def evaluate_paths(
    case: Case, n_paths: int, *, seed: int, sampling: str = "lhs", base: ModelResult | None = None
) -> ModelResult:
    """The engine's full result on the first ``n_paths`` Monte Carlo paths of a seed.

    The same paths as :func:`run` with that number of paths, seed and sampling (and the
    first paths of a longer run when ``n_paths`` is a multiple of :data:`BLOCK_SIZE`),
    with every line item and the integrity checks, for inspection and charts of sample
    paths. Holds every line in memory: meant for thousands of paths, not millions.
    """
    plan = _plan(case, n_paths, seed, sampling, base)
    return _evaluate_draws(plan, _draw(plan, 0, _block_sizes(n_paths)), checks=True)


def _chunks(n_paths: int, chunk_size: int) -> list[tuple[int, int, list[int]]]:
    """``(first path, first block, block sizes)`` of every chunk."""
    blocks_per_chunk = max(1, -(-chunk_size // BLOCK_SIZE))
    sizes = _block_sizes(n_paths)
    out = []
    for first in range(0, len(sizes), blocks_per_chunk):
        out.append((first * BLOCK_SIZE, first, sizes[first : first + blocks_per_chunk]))
    return out


# --------------------------------------------------------------------------- #
# Running
# --------------------------------------------------------------------------- #


def run(
    case: Case,
    n_paths: int,
    *,
    seed: int,
    sampling: str = "lhs",
    progress: Progress | None = None,
    base: ModelResult | None = None,
    chunk_size: int | None = None,
    workers: int | None = None,
) -> MonteCarloResult:
    """Run the Monte Carlo simulation of a case.

    Parameters
    ----------
    case : Case
        Validated assumptions with an ``[uncertainty]`` section.
    n_paths : int
        Number of paths, >= 1 [-].
    seed : int
        Root seed; the same seed gives the same result, bit for bit [-].
    sampling : {"lhs", "sobol", "random"}, default "lhs"
        How the uniforms of the uncertain inputs are drawn (per block, see the module).
    progress : callable, optional
        ``progress(done, total)`` in paths, called from the calling thread after each
        chunk.
    base : ModelResult, optional
        The base case (``evaluate(case)``); its debt schedule is used on every path.
        Evaluated here when omitted.
    chunk_size : int, optional
        Paths per chunk, rounded up to a multiple of :data:`BLOCK_SIZE` [-]; it sets
        memory and speed, never the result. Default :data:`DEFAULT_CHUNK_SIZE`.
    workers : int, optional
        Threads evaluating chunks (numpy releases the GIL in its array operations);
        default ``min(2, cpu count)``. Never changes the result.

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    AssumptionError
        When the ``[uncertainty]`` spec has problems (all of them, one per line).
    KeyboardInterrupt
        Propagated as is; chunks not started are cancelled and nothing is kept.
    """
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, not {n_paths}")
    plan = _plan(case, n_paths, seed, sampling, base)
    chunks = _chunks(n_paths, chunk_size or DEFAULT_CHUNK_SIZE)
    n_workers = max(1, min(workers or min(2, os.cpu_count() or 1), len(chunks)))
    n_partners = len(case.data["partners"])
    k = len(plan.names)
    kpis = {name: np.empty(n_paths) for name in (*KPI_NAMES, "dscr_covenant_breach")}
    partner_npv = np.empty((n_partners, n_paths))
    inputs = np.empty((n_paths, k))
    band_paths = min(n_paths, BAND_PATHS)
    bands = {line: np.empty((band_paths, plan.n_periods), dtype=np.float32) for line in BAND_LINES}

    def collect(chunk: _Chunk) -> int:
        stop = chunk.start + chunk.inputs.shape[0]
        for name, values in chunk.kpis.items():
            kpis[name][chunk.start : stop] = values
        partner_npv[:, chunk.start : stop] = chunk.partner_npv_eur
        inputs[chunk.start : stop] = chunk.inputs
        for line, yearly in chunk.band_values.items():
            bands[line][chunk.start : chunk.start + yearly.shape[0]] = yearly
        return stop - chunk.start

    done = 0
    if n_workers == 1:
        for start, first_block, sizes in chunks:
            done += collect(_run_chunk(plan, start, first_block, sizes))
            if progress is not None:
                progress(done, n_paths)
    else:
        executor = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="bizcase-mc")
        try:
            futures: list[Future[_Chunk]] = [
                executor.submit(_run_chunk, plan, start, first_block, sizes)
                for start, first_block, sizes in chunks
            ]
            for future in futures:
                done += collect(future.result())
                if progress is not None:
                    progress(done, n_paths)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    years = np.asarray(case.data["project"]["start_year"] + np.arange(plan.n_periods), dtype=float)
    summary = summarise(
        case, kpis, partner_npv, inputs, plan.names, years, bands, plan.debt,
        seed=seed, sampling=sampling,
    )
    return MonteCarloResult(summary, kpis, partner_npv, inputs, plan.names, years, bands, plan.debt)


# --------------------------------------------------------------------------- #
# Summaries
# --------------------------------------------------------------------------- #


def stats(values: npt.ArrayLike) -> dict[str, float | int]:
    """Mean, sample sd, P5/P10/P50/P90/P95 and the number of defined values.

    NaN values (a path without an answer) are left out and not counted in
    ``n_defined``; every statistic is NaN when no value is defined (sd when fewer than
    two). Percentiles interpolate linearly between order statistics (numpy's default).

    Examples
    --------
    >>> s = stats([1.0, 2.0, 3.0, float("nan")])
    >>> s["mean"], s["p50"], s["n_defined"]
    (2.0, 2.0, 3)
    """
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    out: dict[str, float | int] = {}
    if finite.size == 0:
        out.update({"mean": math.nan, "sd": math.nan})
        out.update({f"p{q}": math.nan for q in PERCENTILES})
    else:
        out["mean"] = float(np.mean(finite))
        # about the first value: the same sd, but exactly 0 when every path agrees
        # (the mean of equal values need not round back to the value itself)
        out["sd"] = float(np.std(finite - finite[0], ddof=1)) if finite.size > 1 else math.nan
        for q, value in zip(PERCENTILES, np.percentile(finite, PERCENTILES), strict=True):
            out[f"p{q}"] = float(value)
    out["n_defined"] = int(finite.size)
    return out


def probability_below(irr: FloatArray, npv_at_hurdle: FloatArray, hurdle: float) -> float:
    """Share of paths whose IRR is below ``hurdle``; NaN IRRs count when NPV at it is < 0.

    Examples
    --------
    >>> probability_below(np.array([0.05, 0.2, np.nan, np.nan]), np.array([-1.0, 1.0, -5.0, 3.0]), 0.1)
    0.5
    """
    below = np.where(np.isnan(irr), npv_at_hurdle < 0.0, irr < hurdle)
    return float(np.mean(below))


def histogram(values: npt.ArrayLike, bins: int = HISTOGRAM_BINS) -> dict[str, list[float]]:
    """Histogram of the defined values between their P0.5 and P99.5.

    The first and last bins also count the values beyond them, so the counts sum to
    the number of defined values.
    """
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return {"edges": [], "counts": []}
    low, high = (float(v) for v in np.percentile(finite, [0.5, 99.5]))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    counts, _ = np.histogram(np.clip(finite, low, high), bins=edges)
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def summarise(
    case: Case,
    kpis: Mapping[str, FloatArray],
    partner_npv_eur: FloatArray,
    inputs: FloatArray,
    input_names: Sequence[str],
    years: FloatArray,
    band_values: Mapping[str, npt.NDArray[np.float32]],
    debt: DebtSchedule,
    *,
    seed: int,
    sampling: str,
) -> dict[str, Any]:
    """The ``monte_carlo`` block of ``results.json`` from per-path values.

    Returns
    -------
    dict
        ``simulations``, ``seed``, ``sampling``, ``block_size``;
        ``kpis``: KPI -> :func:`stats`;
        ``partners``: per partner ``name, share, cost_of_equity, irr`` (stats, equal to
        the equity IRR's), ``npv_eur`` (stats), ``prob_irr_below_cost_of_equity``;
        ``equity_hurdle`` (share-weighted cost of equity [fraction/year]),
        ``prob_project_npv_negative``, ``prob_equity_irr_below_hurdle``,
        ``prob_dscr_covenant_breach`` (NaN without debt);
        ``prob_distribution_lockup``: share of paths with at least one year whose surplus
        is retained by the distribution lock-up (NaN without debt);
        ``std_error_mean_project_npv_eur`` (sd / sqrt(n), the i.i.d. formula; Latin
        hypercube sampling makes the true error smaller) [EUR];
        ``bands``: ``years``, ``n_paths`` and per line P5…P95 lists by year;
        ``sensitivities``: KPI -> {input: Spearman rho};
        ``histograms``: KPI -> ``{edges, counts}``;
        ``inputs``: input -> :func:`stats` of its sampled values.
    """
    n = int(kpis["project_npv_eur"].shape[0])
    partners = case.data["partners"]
    hurdle = float(sum(p["share"] * p["cost_of_equity"] for p in partners))
    equity_irr = kpis["equity_irr"]
    irr_stats = stats(equity_irr)
    has_debt = any(float(np.max(t.balance)) > 0.0 for t in debt.tranches)
    summary: dict[str, Any] = {
        "simulations": n,
        "seed": int(seed),
        "sampling": sampling,
        "block_size": BLOCK_SIZE,
        "kpis": {name: stats(kpis[name]) for name in KPI_NAMES},
        "partners": [
            {
                "name": p["name"],
                "share": p["share"],
                "cost_of_equity": p["cost_of_equity"],
                "irr": dict(irr_stats),
                "npv_eur": stats(partner_npv_eur[i]),
                "prob_irr_below_cost_of_equity": probability_below(
                    equity_irr, partner_npv_eur[i], float(p["cost_of_equity"])
                ),
            }
            for i, p in enumerate(partners)
        ],
        "equity_hurdle": hurdle,
        "prob_project_npv_negative": float(np.mean(kpis["project_npv_eur"] < 0.0)),
        "prob_equity_irr_below_hurdle": probability_below(equity_irr, kpis["equity_npv_eur"], hurdle),
        "prob_dscr_covenant_breach": float(np.mean(kpis["dscr_covenant_breach"])) if has_debt else math.nan,
        "prob_distribution_lockup": float(np.mean(kpis["lockup_years"] > 0.0)) if has_debt else math.nan,
        "std_error_mean_project_npv_eur": (
            float(np.std(kpis["project_npv_eur"], ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        ),
        "bands": _bands(years, band_values),
        "sensitivities": {
            name: dict(zip(input_names, uncertainty.rank_correlation_sensitivities(inputs, kpis[name]).tolist(), strict=True))
            for name in SENSITIVITY_KPIS
        } if len(input_names) else {name: {} for name in SENSITIVITY_KPIS},
        "histograms": {name: histogram(kpis[name]) for name in HISTOGRAM_KPIS},
        "inputs": {name: stats(inputs[:, i]) for i, name in enumerate(input_names)},
    }
    return summary


def _bands(years: FloatArray, band_values: Mapping[str, npt.NDArray[np.float32]]) -> dict[str, Any]:
    out: dict[str, Any] = {"years": [int(y) for y in years]}
    first = next(iter(band_values.values()), None)
    out["n_paths"] = 0 if first is None else int(first.shape[0])
    for line, values in band_values.items():
        q = np.percentile(values.astype(float), PERCENTILES, axis=0)
        out[line] = {f"p{p}": row.tolist() for p, row in zip(PERCENTILES, q, strict=True)}
    return out
