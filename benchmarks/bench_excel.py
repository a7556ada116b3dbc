"""Time writing the default workbook: median of 5 runs after one warm-up.

Usage: python benchmarks/bench_excel.py [assumptions.toml]
Prints the median time, the workbook size and the number of formula cells.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from bizcase import assumptions, excel, pipeline

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assumptions" / "gigafactory.toml"
    run = pipeline.run_case(assumptions.load(path), simulations=0)
    data = excel.workbook_bytes(run)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        data = excel.workbook_bytes(run)
        times.append(time.perf_counter() - start)
    wb, _ = excel.build(run)
    formulas = sum(1 for _ in excel.formula_cells(wb))
    print(f"{path.name}: workbook written in {statistics.median(times):.3f} s (median of 5; "
          f"min {min(times):.3f} s, max {max(times):.3f} s), {len(data) / 1024:.0f} KiB, "
          f"{formulas:,} formula cells")


if __name__ == "__main__":
    main()
