"""Speed and memory of the Monte Carlo, with plain-numpy references measured alongside.

Prints:
- IRR throughput at 25 periods on conventional project flows (capex 80–120 at t = 0,
  then a ramp to a plateau with 15 % noise): ``finance.irr``, a per-path ``pyxirr.irr``
  loop and (on 2,000 paths) ``numpy_financial.irr`` [paths/s];
- ``finance.irr`` on the project and equity flows of 32,768 Monte Carlo paths of the
  default model, which change sign several times (GPU refreshes) [ms];
- ``simulate.run`` on 100,000 paths of the default model, every KPI incl. partners,
  in process (median of 3 after a warm-up) [s], beside a plain-numpy toy Monte Carlo of
  the same size (logistic utilization, revenue, power, NPV and IRR; the reference of
  research/perf-anchors.md) as a measure of how fast the machine is at that moment;
- ``simulate.run`` on 1,000,000 paths in a fresh subprocess: wall time of the run and
  the subprocess's peak RSS (``resource.getrusage``) [s, MiB];
- the CPU other processes used during the timed runs [cores], from /proc/stat.

Usage: python benchmarks/bench_montecarlo.py [--quick]   (--quick: skip the 1 M run)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bizcase import assumptions, engine, finance, simulate

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "assumptions" / "gigafactory.toml"


def cpu_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks of this process) so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    own = sum(os.times()[:4]) * os.sysconf("SC_CLK_TCK")
    return busy, int(own)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time of ``repeat`` runs after one warm-up, and other processes' load [cores]."""
    fn()
    times = []
    busy0, own0 = cpu_ticks()
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    busy1, own1 = cpu_ticks()
    other = max(0.0, (busy1 - busy0) - (own1 - own0)) / os.sysconf("SC_CLK_TCK") / elapsed
    return statistics.median(times), other


def project_flows(n: int, periods: int, seed: int = 0) -> np.ndarray:
    """Conventional flows: capex at t = 0, then a ramp-up to a noisy plateau [EUR]."""
    rng = np.random.default_rng(seed)
    capex = rng.uniform(80.0, 120.0, n)
    plateau = rng.uniform(8.0, 25.0, n)[:, None]
    t = np.arange(1, periods)
    ramp = plateau / (1.0 + np.exp(-1.5 * (t - 2.0)))
    flows = np.empty((n, periods))
    flows[:, 0] = -capex
    flows[:, 1:] = ramp * (1.0 + 0.15 * rng.standard_normal((n, periods - 1)))
    return flows


def toy_monte_carlo(n: int, seed: int = 1) -> np.ndarray:
    """A plain-numpy Monte Carlo of a GPU plant (25 years): NPV and IRR per path."""
    rng = np.random.default_rng(seed)
    years = np.arange(25.0)
    speed = rng.uniform(0.8, 3.0, (n, 1))
    midpoint = rng.uniform(0.3, 2.0, (n, 1))
    plateau = rng.uniform(0.55, 0.95, (n, 1))
    u = np.clip(plateau / (1 + np.exp(-speed * (years - midpoint))) + 0.04 * rng.standard_normal((n, 25)), 0, 1)
    price = rng.uniform(1.6, 3.2, (n, 1)) * (1 - rng.uniform(0.02, 0.1, (n, 1))) ** years
    revenue = 1024 * 8760 * u * price
    power = 1024 * (0.3 + 0.7 * u) * rng.uniform(1.15, 1.45, (n, 1)) * 8.76 * rng.uniform(60, 140, (n, 1)) * 1.02**years
    capex = 1024 * 36_000 * rng.uniform(0.9, 1.1, (n, 1))
    flows = revenue - power - 0.08 * capex
    flows[:, :1] -= capex
    npv = flows @ 1.1 ** -(years + 1)
    irr = finance.irr(flows)
    return np.stack([npv, irr])


def irr_section() -> None:
    import numpy_financial as npf
    import pyxirr

    print("IRR at 25 periods, conventional flows")
    for n in (100_000, 1_000_000):
        flows = project_flows(n, 25)
        t, other = timed(lambda flows=flows: finance.irr(flows), 3)
        print(f"  finance.irr          {n:>9,} paths: {t * 1e3:8.1f} ms = {n / t / 1e6:5.2f} M paths/s   (target >= 2 M/s; other load {other:.2f} cores)")
    flows = project_flows(100_000, 25)
    t_irr, _ = timed(lambda: finance.irr(flows), 3)
    t_py, other = timed(lambda: [pyxirr.irr(row) for row in flows], 1)
    print(f"  pyxirr.irr loop        100,000 paths: {t_py * 1e3:8.1f} ms = {1e5 / t_py / 1e6:5.2f} M paths/s   "
          f"-> finance.irr is {t_py / t_irr:4.1f}x faster (target >= 5x; other load {other:.2f} cores)")
    small = flows[:2_000]
    t_npf, _ = timed(lambda: [npf.irr(row) for row in small], 1)
    print(f"  numpy_financial.irr      2,000 paths: {t_npf * 1e3:8.1f} ms = {2_000 / t_npf / 1e3:5.1f} k paths/s")
    check = np.array([pyxirr.irr(row) for row in flows[:20_000]], dtype=float)
    print(f"  max |finance.irr - pyxirr| on 20,000 paths: {np.nanmax(np.abs(finance.irr(flows[:20_000]) - check)):.1e}")


def several_sign_changes_section() -> None:
    case = assumptions.load(DEFAULT)
    paths = simulate.evaluate_paths(case, simulate.BLOCK_SIZE, seed=1)
    print("IRR of the default model's Monte Carlo paths (flows that change sign several times)")
    for line in ("project_cash_flow_eur", "equity_cash_flow_eur"):
        flows = np.tile(paths.line(line), (4, 1))  # 32,768 paths
        changes = np.count_nonzero(np.diff(np.sign(flows), axis=1) != 0, axis=1)
        t, other = timed(lambda flows=flows: finance.irr(flows), 5)
        print(f"  finance.irr {line:<22} {flows.shape[0]:,} paths x {flows.shape[1]}: {t * 1e3:7.1f} ms   "
              f"({np.mean(changes > 1):.0%} with several sign changes; other load {other:.2f} cores)")
        t_one, _ = timed(lambda row=flows[0]: finance.irr(row), 200)
        print(f"  finance.irr {line:<22} one path: {t_one * 1e3:7.3f} ms")


def monte_carlo_section() -> None:
    case = assumptions.load(DEFAULT)
    base = engine.evaluate(case)
    k = len(case.data["uncertainty"]["variables"])
    print(f"Monte Carlo, default model (T = {case.n_periods} periods, {k} uncertain inputs + 2 processes)")
    n = 100_000
    for workers in (1, 2):
        t, other = timed(lambda workers=workers: simulate.run(case, n, seed=1, base=base, workers=workers), 3)
        print(f"  simulate.run {n:,} paths, {workers} thread(s): {t:6.2f} s   (target <= 1.5 s; other load {other:.2f} cores)")
    t, other = timed(lambda: toy_monte_carlo(n), 3)
    print(f"  reference: plain-numpy toy MC {n:,} paths x 25 y (NPV + IRR): {t:6.2f} s   (other load {other:.2f} cores)")


CHILD = """
import json, resource, sys, time
from bizcase import assumptions, engine, simulate
case = assumptions.load(sys.argv[1])
base = engine.evaluate(case)
t0 = time.perf_counter()
mc = simulate.run(case, int(sys.argv[2]), seed=1, base=base)
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mib": peak, "p_npv_negative": mc.summary["prob_project_npv_negative"]}))
"""


def million_section() -> None:
    n = 1_000_000
    busy0, _ = cpu_ticks()
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(DEFAULT), str(n)], check=True, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    busy1, _ = cpu_ticks()
    child = json.loads(out.stdout)
    load = (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / elapsed
    print(f"  simulate.run {n:,} paths, subprocess: {child['seconds']:6.2f} s (target <= 15 s), "
          f"peak RSS {child['peak_mib']:,.0f} MiB (target <= 1,536 MiB); whole machine busy {load:.2f} cores")


def main() -> None:
    irr_section()
    several_sign_changes_section()
    monte_carlo_section()
    if "--quick" not in sys.argv:
        million_section()


if __name__ == "__main__":
    main()
