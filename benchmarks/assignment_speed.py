"""Grading one solved notebook with its rubric, against merely executing it, side by side in one run.

``speed_benchmark.py`` measures lesson 04's solution with the bundled rubric;
this measures any assignment's, from a cold start (a new process each time)
against plain nbclient in a new process (graceful shutdown), repeated, medians
reported. Default: assignment 05.

    python benchmarks/assignment_speed.py [--runs 3] [--notebook reference/solution_05.ipynb]
                                          [--rubric rubrics/05_custom_autograd_and_training.yaml]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_benchmark import ROOT, plain, timed


def measure(notebook: Path, rubric: Path, runs: int, work: Path) -> None:
    grades, plains, ratios, rss, kernel = [], [], [], [], []
    for _ in range(runs):
        wall, peak, out = timed([sys.executable, "-m", "grader", str(notebook), "--rubric", str(rubric), "--format", "json"], ROOT)
        report = json.loads(out)
        assert report["score"] == report["max_score"], report["score"]
        reference = plain([notebook], 60, work)
        grades.append(wall)
        plains.append(reference)
        ratios.append(wall / reference)
        rss.append(peak)
        kernel.append(report.get("environment", {}).get("kernel_peak_mb", -1))
    print(f"grade {notebook.name} --rubric {rubric.name}: median {statistics.median(grades):.2f}s "
          f"(runs: {', '.join(f'{g:.2f}' for g in grades)})")
    print(f"plain nbclient:  median {statistics.median(plains):.2f}s (runs: {', '.join(f'{p:.2f}' for p in plains)})")
    print(f"ratio median {statistics.median(ratios):.2f} (runs: {', '.join(f'{r:.2f}' for r in ratios)}; lesson 04's target <= 1.0)")
    print(f"grader peak RSS {max(rss)} MiB, kernel peak {max(kernel)} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--notebook", type=Path, default=ROOT / "reference" / "solution_05.ipynb")
    parser.add_argument("--rubric", type=Path, default=ROOT / "rubrics" / "05_custom_autograd_and_training.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assignment-speed-") as temp:
        measure(args.notebook.resolve(), args.rubric.resolve(), args.runs, Path(temp))


if __name__ == "__main__":
    main()
