"""Speed of the vectorised IRR against per-path loops.

Generates project-like cash flows (capex of 80-120 at t=0, then a ramp to a
plateau with 15 % noise) from a seeded generator and prints:
- `bizcase.finance.irr` on all paths at once (median of 5 after a warm-up) [paths/s];
- the same on flows that change sign several times (capex, then hardware refreshes
  every 4 years), where the root nearest 10 % is returned [paths/s];
- a per-path `pyxirr.irr` loop on the first 100,000 paths, if pyxirr is installed [paths/s];
- a per-path `numpy_financial.irr` loop on the first 2,000 paths [paths/s];
- the speed-up of the vectorised IRR over each loop, and the largest absolute
  difference from each [fraction/period].

Usage: python benchmarks/bench_irr.py [--paths 1000000] [--periods 25] [--seed 20240611]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import numpy_financial as npf
from common import median_time

from bizcase.finance import irr

PYXIRR_PATHS = 100_000
NUMPY_FINANCIAL_PATHS = 2_000


def project_flows(rng: np.random.Generator, n_paths: int, n_periods: int) -> np.ndarray:
    """Capex of 80-120 at t=0, then a 2-5 year ramp to a 10-25 plateau, 15 % noise [EUR]."""
    periods = np.arange(n_periods)
    capex = rng.uniform(80.0, 120.0, n_paths)
    plateau = rng.uniform(10.0, 25.0, (n_paths, 1))
    ramp_years = rng.integers(2, 6, (n_paths, 1))
    flows = np.minimum(periods / ramp_years, 1.0) * plateau
    flows *= 1.0 + 0.15 * rng.standard_normal((n_paths, n_periods))
    flows[:, 0] = -capex
    return flows



def per_path_time(
    solve: Callable[[np.ndarray], object], flows: np.ndarray
) -> tuple[float, np.ndarray]:
    """Wall time of one pass of `solve` over the rows of `flows` [s], and the rates."""
    start = time.perf_counter()
    rates = np.array([solve(row) for row in flows], dtype=np.float64)
    return time.perf_counter() - start, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1_000_000, help="number of paths")
    parser.add_argument("--periods", type=int, default=25, help="periods per path")
    parser.add_argument("--seed", type=int, default=20240611, help="generator seed")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    flows = project_flows(rng, args.paths, args.periods)
    print(
        f"flows: {args.paths:,} paths x {args.periods} periods, seed {args.seed}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )

    refreshed = flows.copy()
    refreshed[:, 6::4] += 1.2 * refreshed[:, :1]  # column 0 is -capex: refreshes of 1.2 x capex
    several = np.count_nonzero(np.diff(np.sign(refreshed), axis=1) != 0, axis=1) > 1
    t_several = median_time(lambda: irr(refreshed), repeat=5)
    several_rates = np.asarray(irr(refreshed))

    rates = np.asarray(irr(flows))
    t_vector = median_time(lambda: irr(flows), repeat=5)
    vector_rate = args.paths / t_vector
    print(
        f"bizcase.finance.irr, all paths at once:  {t_vector * 1e3:9.1f} ms   "
        f"{vector_rate:12,.0f} paths/s   (NaN: {np.count_nonzero(np.isnan(rates))})"
    )

    print(
        f"  several sign changes ({np.mean(several):.0%} of paths): {t_several * 1e3:9.1f} ms   "
        f"{args.paths / t_several:12,.0f} paths/s   (NaN: {np.count_nonzero(np.isnan(several_rates))})"
    )

    try:
        import pyxirr
    except ImportError:
        print("pyxirr.irr per path:                     skipped (pyxirr not installed)")
    else:
        n_loop = min(PYXIRR_PATHS, args.paths)
        t_loop, loop_rates = per_path_time(pyxirr.irr, flows[:n_loop])
        loop_rate = n_loop / t_loop
        difference = np.nanmax(np.abs(loop_rates - rates[:n_loop]))
        print(
            f"pyxirr.irr per path ({n_loop:,} paths):    {t_loop * 1e3:9.1f} ms   "
            f"{loop_rate:12,.0f} paths/s"
        )
        print(f"  speed-up of bizcase over pyxirr:       {vector_rate / loop_rate:9.1f} x")
        print(f"  max |difference| from pyxirr:          {difference:9.2e}")

    n_loop = min(NUMPY_FINANCIAL_PATHS, args.paths)
    t_loop, loop_rates = per_path_time(npf.irr, flows[:n_loop])
    loop_rate = n_loop / t_loop
    difference = np.nanmax(np.abs(loop_rates - rates[:n_loop]))
    print(
        f"numpy_financial.irr per path ({n_loop:,} paths): {t_loop * 1e3:7.1f} ms   "
        f"{loop_rate:12,.0f} paths/s"
    )
    print(f"  speed-up of bizcase over numpy-financial: {vector_rate / loop_rate:6.0f} x")
    print(f"  max |difference| from numpy-financial:  {difference:9.2e}")


if __name__ == "__main__":
    main()
