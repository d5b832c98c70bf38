"""How long ``grade similarity`` takes for a class of N submissions (default 300).

The class is built from tests/unit/similarity_class.py's parts: students answer
with the conformance corpus's correct variants (a random style per exercise),
and one in ten is a disguised copy of another (renamed, reordered,
recommented). Results are hand-made JSON: no kernel runs. With some 15 variants
per exercise, hundreds of students here share answers verbatim, which real
independent students do not: this class measures time only. How well copies
rank is tested on a class of distinct styles (tests/unit/test_similarity.py).
A benchmark, not a test: run it on an idle machine and read the time.

    python benchmarks/similarity_benchmark.py --count 300
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.similarity.run import write_similarity_report
from tests.unit.similarity_class import EXERCISES, answers_of, disguise, write_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    answers: dict[str, list[list[str]]] = {}
    planted: set[tuple[str, str]] = set()
    for i in range(args.count):
        student = f"s{i:03d}"
        if i % 10 == 9:
            source = f"s{rng.randrange(i):03d}"
            answers[student] = disguise(answers[source], rng.choice(("rename", "reorder", "recomment")))
            planted.add((min(source, student), max(source, student)))
        else:
            answers[student] = answers_of(tuple(rng.randrange(len(variants)) for variants in EXERCISES))
    with tempfile.TemporaryDirectory() as temp:
        out = write_class(Path(temp), answers)
        started, cpu = time.perf_counter(), time.process_time()
        write_similarity_report(out)
        wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"{args.count} submissions ({len(planted)} planted copies), {args.count * (args.count - 1) // 2} pairs: "
          f"{wall:.2f} s wall, {used:.2f} s CPU on {os.cpu_count()} cores")

if __name__ == "__main__":
    main()
