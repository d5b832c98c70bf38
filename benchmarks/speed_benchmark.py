"""How fast grading is, measured against merely executing the same notebooks, side by side.

Three measurements, each repeated (median reported), always in one run so that
the machine's load hits both sides alike:

* **single**: ``grade reference/solution.ipynb`` from a cold start (a new
  process, no kept warm-kernel server) against executing the same notebook with
  plain nbclient in a new process (graceful shutdown, as people do it today).
  Target: ratio <= 0.9.
* **again**: the same, but a second and later ``grade`` that finds the
  warm-kernel server an earlier one kept (``GRADER_KEEP_WARM``, a private
  runtime folder; the first, untimed, grade starts it). Target: ratio <= 0.3.
* **batch**: ``grade CLASS --out R --jobs 2`` on a generated class of varied
  submissions (see ``batch_benchmark.make_class``: solved, untouched, partly
  wrong, a raising cell, one cell that loops past its time limit) against
  executing the same notebooks one after another with plain nbclient.
  Target: ratio <= 0.10. Each run then grades the class again into the same
  results (``--force``), as an instructor does after changing the rubric; that
  grade starts with the submissions that took longest the first time.

It also prints seconds per submission, the grader's peak memory (max RSS of
the ``grade`` process), the kernels' peak memory from the JSON reports, and
how long ``grade --help`` takes.

    python benchmarks/speed_benchmark.py [--runs 3] [--count 40] [--jobs 2] [--cell-timeout 8] [--skip-batch] [--only-again]

The batch's fixed costs (starting workers and the warm-kernel server, writing
the summary page) weigh less the larger the class: report the class size with
the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_benchmark import ROOT, SOLUTION, make_class

PLAIN = """
import sys, nbformat
from nbclient import NotebookClient
for path in sys.argv[2:]:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=int(float(sys.argv[1])), allow_errors=True, interrupt_on_timeout=True,
                   error_on_timeout={"ename": "CellTimeout", "evalue": "timed out"}, kernel_name="python3",
                   resources={"metadata": {"path": "."}}, shutdown_kernel="graceful").execute()
"""


COLD = {**os.environ, "GRADER_KEEP_WARM": "0"}


def timed(command: list[str], cwd: Path, env: dict[str, str] = COLD) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB (GNU time) and stdout of one command."""
    started = time.monotonic()
    done = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M", *command], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    wall = time.monotonic() - started
    rss = next((int(line.split()[1]) // 1024 for line in done.stderr.splitlines() if line.startswith("MAXRSS")), -1)
    if done.returncode not in (0, 1):
        sys.exit(f"{command[:4]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, rss, done.stdout


def plain(paths: list[Path], cell_timeout: float, cwd: Path) -> float:
    return timed([sys.executable, "-c", PLAIN, str(cell_timeout), *map(str, paths)], cwd)[0]


def single(runs: int, work: Path) -> None:
    ratios, grades, plains, rss, kernel = [], [], [], [], []
    for _ in range(runs):
        wall, peak, out = timed([sys.executable, "-m", "grader", str(SOLUTION), "--format", "json"], ROOT)
        report = json.loads(out)
        assert report["score"] == report["max_score"], report["score"]
        reference = plain([SOLUTION], 60, work)
        grades.append(wall)
        plains.append(reference)
        ratios.append(wall / reference)
        rss.append(peak)
        kernel.append(report.get("environment", {}).get("kernel_peak_mb", -1))
    print(f"single  grade solution.ipynb: median {statistics.median(grades):.2f}s   plain nbclient: median {statistics.median(plains):.2f}s")
    print(f"        ratio median {statistics.median(ratios):.2f} (runs: {', '.join(f'{r:.2f}' for r in ratios)}; target <= 0.9)")
    print(f"        grader peak RSS {max(rss)} MiB, kernel peak {max(kernel)} MiB")


def again(runs: int, work: Path) -> None:
    """A second and later ``grade`` of the same notebook, reaching the warm-kernel server the first one kept."""
    runtime = tempfile.mkdtemp(prefix="gb", dir="/tmp")  # short, for the socket's path; ours alone
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime, "GRADER_KEEP_WARM": "1", "GRADER_WARM_IDLE_S": "300"}
    env.pop("CI", None)
    command = [sys.executable, "-m", "grader", str(SOLUTION), "--format", "json"]
    ratios, grades, plains, loads = [], [], [], []
    try:
        timed(command, ROOT, env)  # the first grade starts the server: untimed
        for _ in range(runs):
            wall, _, out = timed(command, ROOT, env)
            report = json.loads(out)
            assert report["score"] == report["max_score"], report["score"]
            assert report["environment"].get("warm_server_reused") is True, report["environment"]
            reference = plain([SOLUTION], 60, work)
            grades.append(wall)
            plains.append(reference)
            ratios.append(wall / reference)
            loads.append(os.getloadavg()[0])
    finally:
        _stop_servers(runtime)
    print(f"again   grade solution.ipynb (kept server): median {statistics.median(grades):.2f}s   "
          f"plain nbclient: median {statistics.median(plains):.2f}s")
    print(f"        ratio median {statistics.median(ratios):.2f} (runs: {', '.join(f'{r:.2f}' for r in ratios)}; target <= 0.3), "
          f"load average {min(loads):.1f} to {max(loads):.1f}")


def _stop_servers(runtime: str) -> None:
    """Stop the kept servers whose socket is in ``runtime`` (their command line names it); they remove their files."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"grader.kernel.zygote" in command and runtime.encode() in command:
            os.kill(int(entry.name), signal.SIGTERM)
    time.sleep(1)
    shutil.rmtree(runtime, ignore_errors=True)


def batch(runs: int, count: int, jobs: int, cell_timeout: float, work: Path) -> None:
    paths = make_class(work / "class", max(count, 20))
    ratios, grades, plains, rss, floors, regrades = [], [], [], [], [], []
    kernel_peaks: list[float] = []
    for run in range(runs):
        out = work / f"results{run}"
        command = [sys.executable, "-m", "grader", str(work / "class"), "--out", str(out), "--force",
                   "--jobs", str(jobs), "--cell-timeout", str(cell_timeout)]
        started = time.time()
        wall, peak, _ = timed(command, ROOT)
        reference = plain(paths, cell_timeout, work)
        grades.append(wall)
        plains.append(reference)
        ratios.append(wall / reference)
        rss.append(peak)
        results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        kernel_peaks += [r.get("environment", {}).get("kernel_peak_mb", -1) for r in results]
        floors.append(_critical_path(results, started) / reference)
        regrades.append(timed(command, ROOT)[0] / reference)
    n = len(paths)
    print(f"batch   {n} submissions, --jobs {jobs}: median {statistics.median(grades):.1f}s "
          f"({statistics.median(grades) / n:.2f} s/submission)")
    print(f"        plain nbclient, sequential: median {statistics.median(plains):.1f}s ({statistics.median(plains) / n:.2f} s/submission)")
    print(f"        ratio median {statistics.median(ratios):.3f} (runs: {', '.join(f'{r:.3f}' for r in ratios)}; target <= 0.10)")
    print(f"        no schedule beats the first grade's start plus the longest submission: ratio {statistics.median(floors):.3f} "
          f"(runs: {', '.join(f'{r:.3f}' for r in floors)}), the longest being the one that runs until its {cell_timeout:g}s cell limit")
    print(f"        graded again into the same results (--force, last time's slowest first): ratio {statistics.median(regrades):.3f} "
          f"(runs: {', '.join(f'{r:.3f}' for r in regrades)})")
    print(f"        grade process peak RSS {max(rss)} MiB (main process; workers are separate), kernel peak {max(kernel_peaks):.0f} MiB")


def _critical_path(results: list[dict], started: float) -> float:
    """Seconds from the command to the first submission's grading, plus the longest submission's grading.

    A batch cannot end sooner: its longest submission starts no earlier than its first one. In the
    generated class the longest is the one that loops until its cell limit, a wait that plain
    execution also pays once but that does not shrink on a faster machine.
    """
    starts = [datetime.fromisoformat(r["batch"]["graded_at"]).timestamp() - r["duration_s"] - started for r in results]
    return min(starts) + max(r["duration_s"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=40, help="submissions in the generated class (at least 20)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cell-timeout", type=float, default=8.0)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--only-again", action="store_true", help="measure only the second-and-later grade against plain nbclient")
    args = parser.parse_args()
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "grader", "--help"], capture_output=True, check=True)
    print(f"grade --help: {time.monotonic() - started:.2f}s")
    with tempfile.TemporaryDirectory(prefix="speed-benchmark-") as temp:
        work = Path(temp)
        plain([SOLUTION], 60, work)  # disk caches, untimed
        again(args.runs, work)
        if args.only_again:
            return
        single(args.runs, work)
        if not args.skip_batch:
            batch(args.runs, args.count, args.jobs, args.cell_timeout, work)


if __name__ == "__main__":
    main()
