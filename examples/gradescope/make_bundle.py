#!/usr/bin/env python3
"""Build the Gradescope autograder zip: setup.sh and run_autograder at its root, the grader in autodiff-grader/.

    python examples/gradescope/make_bundle.py            # writes autograder.zip here
    python examples/gradescope/make_bundle.py -o /tmp/autograder.zip

Upload the zip in the assignment's "Configure Autograder" page. The grader copy
holds the package, the rubrics and the reference modules. No notebook goes in:
the grader needs none, and the solved ones in reference/ (one per lesson, by
any name) must not be on the machine that runs the student's code. The tests
stay out too.
"""

from __future__ import annotations

import argparse
import stat
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INCLUDED = ("pyproject.toml", "README.md", "grader", "rubrics", "reference")
EXCLUDED_NAMES = {"__pycache__", ".ipynb_checkpoints"}


def grader_files(repo: Path) -> list[Path]:
    """The files of the grader that the autograder needs, relative to ``repo``."""
    found: list[Path] = []
    for name in INCLUDED:
        top = repo / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            rel = path.relative_to(repo)
            if path.is_file() and not EXCLUDED_NAMES.intersection(rel.parts) and path.suffix not in (".pyc", ".zip", ".ipynb"):
                found.append(rel)
    return found


def build(out: Path, repo: Path = REPO) -> list[str]:
    """Write the zip to ``out``; return the names it holds."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for script in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(script)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, (HERE / script).read_bytes())
        for rel in grader_files(repo):
            bundle.write(repo / rel, f"autodiff-grader/{rel.as_posix()}")
        return bundle.namelist()


def main() -> None:
    """Command line: ``make_bundle.py [-o autograder.zip] [--repo GRADER_REPO]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("autograder.zip"))
    parser.add_argument("--repo", type=Path, default=REPO, help="the grader repository (default: this one)")
    args = parser.parse_args()
    names = build(args.out, args.repo.resolve())
    print(f"wrote {args.out} ({len(names)} files)")


if __name__ == "__main__":
    main()
