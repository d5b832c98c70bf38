"""How long ``grade check-rubric`` takes on lesson 04, start-up included: a benchmark, not a test.

Runs the real command (``grade check-rubric rubrics/04_automatic_differentiation.yaml
--jobs N --format json --no-record``) ``--runs`` times and prints, per run, the
wall time, the number of mutants and the score, then the median wall time and
where the time went in the last run (making the mutants and their notebooks,
grading, and the mean grading time of one mutant per exercise). The issue's
target (issue 22) on this project's idle 2-core machine with ``--jobs 2``: at
least 200 mutants in at most 45 s.

    python benchmarks/mutation_benchmark.py [--runs 1] [--jobs 2] [--max-mutants N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "rubrics" / "04_automatic_differentiation.yaml"
TARGET_S, TARGET_MUTANTS = 45.0, 200


def run_once(jobs: int, max_mutants: int | None) -> tuple[float, dict[str, Any]]:
    """One ``grade check-rubric`` run: its wall time and its JSON report."""
    command = [sys.executable, "-m", "grader", "check-rubric", str(RUBRIC), "--jobs", str(jobs), "--format", "json", "--no-record"]
    if max_mutants:
        command += ["--max-mutants", str(max_mutants)]
    with tempfile.TemporaryDirectory(prefix="mutation-benchmark-") as cache:
        env = {**os.environ, "GRADER_CACHE_DIR": cache}
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"grade check-rubric failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--max-mutants", type=int, default=None)
    options = parser.parse_args()
    print(f"grade check-rubric {RUBRIC.relative_to(ROOT)} --jobs {options.jobs}, {options.runs} run(s), {os.cpu_count()} cores")
    walls = []
    report: dict[str, Any] = {}
    for number in range(1, options.runs + 1):
        wall, report = run_once(options.jobs, options.max_mutants)
        walls.append(wall)
        print(f"run {number}: {wall:6.1f}s wall, {report['mutants']} mutants, {report['killed']} killed, "
              f"{report['survived']} survived ({report['equivalent_suspected']} equivalent-suspected), score {report['score_percent']}%")
    median = statistics.median(walls)
    timings = report.get("timings", {})
    print(f"median {median:.1f}s; in the last run: {timings.get('generate_s', 0):.1f}s making mutants and notebooks, "
          f"{timings.get('grade_s', 0):.1f}s grading (the rest: starting Python and writing the report)")
    for exercise in report["per_exercise"]:
        mine = [r["duration_s"] for r in report["results"] if r["exercise"] == exercise]
        if mine:
            print(f"  {exercise}: {len(mine)} mutants, {statistics.fmean(mine):.2f}s each to grade (one worker)")
    verdict = "meets" if median <= TARGET_S and report["mutants"] >= TARGET_MUTANTS else "misses"
    print(f"target: >= {TARGET_MUTANTS} mutants in <= {TARGET_S:g}s on 2 cores: {verdict} it")


if __name__ == "__main__":
    main()
