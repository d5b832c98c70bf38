"""``grade similarity OUT_DIR``: the command; the work is :mod:`grader.similarity.run`, which a batch's ``--similarity`` runs too."""

from __future__ import annotations

from pathlib import Path

import click

from grader.similarity.run import echo_summary, write_similarity_report


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--template", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="The student notebook whose code is subtracted (default: the graded assignment's template).")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False), help="Where to write the report (default: OUT_DIR/similarity.html).")
def similarity(out_dir: Path, template: Path | None, html: Path | None) -> None:
    """Rank every pair of a graded class by how alike their answer code is, into an HTML report.

    OUT_DIR is a folder written by grade SUBMISSIONS --out OUT_DIR. Each submission's code is read from the
    path recorded there. The template's code is left out; renamed variables, reordered functions, comments and
    layout do not hide a copy. Identical unusual wrong outputs are shown as evidence too.
    """
    import sys

    from grader.errors import GraderError

    try:
        echo_summary(write_similarity_report(out_dir, template, html))
    except GraderError as exc:
        click.echo(f"grade similarity: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
