"""Speed of the engine and of `bizcase run` without Monte Carlo.

Prints:
- one evaluation of the default model, after import (median of 50 after a warm-up) [ms];
- the base-case pipeline (evaluation, break-even price, analysis) in process [ms];
- `bizcase run --simulations 0` end to end as a subprocess, including Python start-up and
  every output file (median of 3 after a warm-up) [s].

Usage: python benchmarks/bench_engine.py [FILE]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import median_time

from bizcase import assumptions, engine, pipeline

ROOT = Path(__file__).resolve().parent.parent



def main() -> None:
    file = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assumptions" / "gigafactory.toml"
    case = assumptions.load(file)
    t_eval = median_time(lambda: engine.evaluate(case), 50)
    print(f"engine.evaluate, default model, 1 path:           {t_eval * 1e3:8.2f} ms   (target < 20 ms)")
    t_base = median_time(lambda: pipeline.run_case(case, simulations=0), 5)
    print(f"pipeline.run_case, base case + analysis:           {t_base * 1e3:8.2f} ms")
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "bizcase.cli", "run", str(file), "--simulations", "0", "--out", out]

        def run() -> None:
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)

        t_run = median_time(run, 3)
        files = sorted(p.name for p in Path(out).iterdir())

        def run_no_pdf() -> None:
            subprocess.run([*cmd, "--no-pdf"], check=True, capture_output=True, cwd=ROOT)

        t_no_pdf = median_time(run_no_pdf, 3)
    print(f"bizcase run --simulations 0, end to end:           {t_run:8.2f} s    (target < 2 s)")
    print(f"  wrote: {', '.join(files)}")
    print(f"bizcase run --simulations 0 --no-pdf, end to end:  {t_no_pdf:8.2f} s")


if __name__ == "__main__":
    main()
