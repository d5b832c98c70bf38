"""Batch grading against plain sequential execution, on the same generated class.

Builds a class of varied submissions from the reference solution and the
student template (solved, untouched, half done, wrong answers, a cell that
raises, extra plots saved to files, and one cell that loops forever), then in
the same run:

1. grades them all with ``grade CLASS --out RESULTS --jobs N --cell-timeout T``
   (the real command, start-up included);
2. executes the same notebooks one after the other with plain nbclient (no
   sandbox, no probes, no grading; same cell timeout, graceful shutdown).

It prints the seconds per submission of both and the ratio. The target (issue
22) on a 2-core machine with ``--jobs 2``, measured by ``speed_benchmark.py`` on
its class of 40: a ratio of at most 0.10.

    python benchmarks/batch_benchmark.py [--count 24] [--jobs 2] [--cell-timeout 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "reference" / "solution.ipynb"
TEMPLATE = ROOT / "exercises" / "04_automatic_differentiation.ipynb"

EX1_WRONG = '''x1, x2, x3 = 1.0, 2.0, 3.0
s = x1 + x2
y = s * x3
dy_ds = x3
dy_dx1, dy_dx2, dy_dx3 = dy_ds, dy_ds, x3


def manual_backprop(x1, x2, x3):
    s = x1 + x2
    return {"y": s * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": x3}
'''


PLOTS = """import matplotlib.pyplot as plt
import numpy as np

xs = np.linspace(-3, 3, 400)
for power in range(1, 6):
    figure, axes = plt.subplots()
    axes.plot(xs, np.sin(xs) ** power)
    figure.savefig(f"plot{power}.png")
    plt.close(figure)
"""


def answers(path: Path) -> dict[str, str]:
    """The answer cells of a notebook, by cell id."""
    notebook = nbformat.read(path, as_version=4)
    return {cell["id"]: cell["source"] for cell in notebook.cells if cell.get("id", "").endswith("-answer")}


def variant(base: Any, number: int, replace: dict[str, str], extra: str = "") -> Any:
    """A copy of ``base`` with answer cells replaced, an extra code cell after the setup, and a unique comment."""
    notebook = copy.deepcopy(base)
    for cell in notebook.cells:
        if cell.get("id") in replace:
            cell["source"] = replace[cell["id"]]
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    notebook.cells[code[0]]["source"] += f"\n# submission {number}"
    if extra:
        notebook.cells.insert(code[0] + 1, nbformat.v4.new_code_cell(extra))
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"c{index}"
    return notebook


def make_class(folder: Path, count: int) -> list[Path]:
    """Write ``count`` varied submissions (at least one of each kind) into ``folder``."""
    solution = nbformat.read(SOLUTION, as_version=4)
    template = nbformat.read(TEMPLATE, as_version=4)
    blank = answers(TEMPLATE)
    kinds: list[tuple[str, Any, dict[str, str], str]] = [
        ("solved", solution, {}, ""),
        ("template", template, {}, ""),
        ("ex1_wrong", solution, {"ex1-answer": EX1_WRONG}, ""),
        ("ex2_missing", solution, {"ex2-answer": blank["ex2-answer"]}, ""),
        ("raises", solution, {}, "raise ValueError('a leftover experiment')"),
        ("half_done", template, {"ex1-answer": answers(SOLUTION)["ex1-answer"]}, ""),
        ("extra_plots", solution, {}, PLOTS),
        ("solved", solution, {}, ""),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    looping = count // 2  # in the middle of the class: neither the best nor the worst place for a scheduler
    for number in range(count):
        name, base, replace, extra = kinds[number % len(kinds)]
        if number == looping:
            name, base, replace, extra = "loops_forever", solution, {}, "while True:\n    pass"
        paths.append(folder / f"s{number:02d}_{name}.ipynb")
        nbformat.write(variant(base, number, replace, extra), paths[-1])
    return paths


def run_plain(path: Path, cell_timeout: float, workdir: Path) -> None:
    """Execute one notebook with plain nbclient: no grading, errors allowed, graceful shutdown."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=int(cell_timeout),
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": "timed out"},
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        shutdown_kernel="graceful",
    )
    client.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24, help="submissions in the generated class (at least 20)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cell-timeout", type=float, default=8.0, help="seconds per cell, for both runs")
    parser.add_argument("--keep", type=Path, help="write the class and the results here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="batch-benchmark-") as temp:
        base = args.keep or Path(temp)
        paths = make_class(base / "class", max(args.count, 20))
        results = base / "results"
        print(f"{len(paths)} submissions in {base / 'class'}; warming up ...", flush=True)
        run_plain(paths[0], args.cell_timeout, base)  # disk caches and first imports, untimed

        started = time.monotonic()
        command = [sys.executable, "-m", "grader", str(base / "class"), "--out", str(results), "--force",
                   "--jobs", str(args.jobs), "--cell-timeout", str(args.cell_timeout)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        batch = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"grade failed ({done.returncode}):\n{done.stderr[-3000:]}")
        print(done.stdout, end="")

        started = time.monotonic()
        for path in paths:
            run_plain(path, args.cell_timeout, base)
        plain = time.monotonic() - started

    n = len(paths)
    print(f"batch grader, --jobs {args.jobs}: {batch:7.1f}s  {batch / n:6.2f} s/submission")
    print(f"plain nbclient, sequential:  {plain:7.1f}s  {plain / n:6.2f} s/submission")
    print(f"ratio (batch / plain): {batch / plain:.2f}  (target <= 0.10 on the class of 40 of speed_benchmark.py)")


if __name__ == "__main__":
    main()
