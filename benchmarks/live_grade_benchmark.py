"""How long ``%grade`` takes in a running notebook, next to the official grade of the same notebook, in one run.

One kernel (nbclient) runs the solved notebook's cells (``reference/solution.ipynb``),
then ``%load_ext grader``, then ``%grade`` several times. Each ``%grade``'s
latency is the kernel's own account of its cell (from ``execute_input`` to
``execute_reply``): everything the student waits for but the frontend's
drawing. Reported: the first ``%grade`` (``--settle 0``: right after
``%load_ext``, while the judge process is still importing; with a settle time,
the first after a pause as a student would make one), the median of the
following ones (the judge warm: target < 1 s), and ``grade
reference/solution.ipynb`` (a cold start, a fresh kernel, the whole notebook
rerun) timed in the same run.

The kernel is told its notebook file (``JPY_SESSION_NAME``, as JupyterLab
does): a copy of the solution, as a student's saved notebook, so that the
assignment is read from its metadata and the printed-output check reads its
saved outputs.

    python benchmarks/live_grade_benchmark.py [--runs 7] [--settle 0]
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
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "reference" / "solution.ipynb"


def cell_seconds(cell: Any) -> float:
    """The kernel's time for one cell, from its execution metadata."""
    timing = cell.metadata["execution"]
    started, ended = (datetime.fromisoformat(timing[key].replace("Z", "+00:00")) for key in ("iopub.execute_input", "shell.execute_reply"))
    return (ended - started).total_seconds()


def score_of(cell: Any) -> str:
    """The score line a ``%grade`` cell displayed (and a failure if it displayed an error instead)."""
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    if errors:
        sys.exit(f"%grade failed: {errors}")
    texts = [o.data.get("text/plain", "") for o in cell.outputs if o.output_type == "display_data"]
    return next((line for text in texts for line in text.splitlines() if line.startswith("Score:")), f"no score in {texts}")


def saved_solution(folder: Path) -> Path:
    """The solved notebook run once and saved with its outputs, as a student's file would be."""
    nb = nbformat.read(SOLUTION, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "04_automatic_differentiation.ipynb"
    nbformat.write(nb, path)
    return path


def live(runs: int, settle: float, notebook: Path) -> tuple[float, list[float], str]:
    """The first ``%grade``'s seconds, the following ones', and the score shown."""
    nb = nbformat.read(SOLUTION, as_version=4)
    extra = ["%load_ext grader"] + ([f"import time\ntime.sleep({settle})"] if settle > 0 else []) + ["%grade"] * (runs + 1)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}})
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(notebook)})
    grades = nb.cells[-(runs + 1):]
    scores = {score_of(cell) for cell in grades}
    if len(scores) != 1:
        sys.exit(f"%grade gave different scores: {scores}")
    return cell_seconds(grades[0]), [cell_seconds(cell) for cell in grades[1:]], scores.pop()


def official(notebook: Path) -> tuple[float, float]:
    """Wall seconds and score of ``grade NOTEBOOK`` (a new process, as a student runs it)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "grader", str(notebook), "--format", "json"], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"grade failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, float(json.loads(done.stdout)["score"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="warm %%grade calls measured (after the first)")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds between %%load_ext and the first %%grade")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        notebook = saved_solution(Path(work))
        first, warm, score = live(args.runs, args.settle, notebook)
        wall, official_score = official(notebook)
    print(f"%grade, judge warm:   median {statistics.median(warm):.3f}s over {len(warm)} calls "
          f"(min {min(warm):.3f}s, max {max(warm):.3f}s; target < 1 s)   {score}")
    print(f"%grade, first call:   {first:.3f}s ({args.settle:g}s after %load_ext)")
    print(f"grade solution.ipynb: {wall:.2f}s (cold start, fresh kernel, whole notebook rerun)   Score: {official_score:g}")
    print(f"ratio warm %grade / grade: {statistics.median(warm) / wall:.3f}")


if __name__ == "__main__":
    main()
