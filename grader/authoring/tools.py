"""``grade kinds [NAME]`` and ``grade trace RUBRIC``: what a rubric author can use, and what a rubric enforces.

``grade kinds`` lists every installed check kind, built-in and from packages,
one line each; ``grade kinds NAME`` prints one kind's parameters (name, type,
default, what it does, allowed values) and a minimal rubric entry, all written
from the kind's own schema by :mod:`grader.checks.docs`, the same source as the
documentation's check-kind reference. ``grade trace RUBRIC`` writes the table
of each check and the contract sentences it quotes, for a course to commit.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import click

from grader.checks.docs import MISSING, example_params, example_yaml, first_paragraph, kind_accepts, parameter_rows
from grader.checks.registry import CHECK_KINDS
from grader.errors import ExitCode, GraderError
from grader.reporters.contract_trace import render_contract_trace
from grader.rubric import load_rubric


def kind_lines(kinds: Mapping[str, type]) -> list[str]:
    """One line per kind: its name and the first sentence of what it checks."""
    width = max((len(name) for name in kinds), default=0)
    return [f"{name:<{width}}  {first_paragraph(cls.__doc__).split('. ')[0].rstrip('.') or MISSING}" for name, cls in sorted(kinds.items())]


def kind_text(name: str, cls: type) -> str:
    """One kind in plain text: what it checks, each parameter, a minimal rubric entry."""
    schema: Mapping[str, Any] = getattr(cls, "params_schema", {})
    lines = [name, "", first_paragraph(cls.__doc__) or MISSING, "", f"Defined in {cls.__module__}.", "", "Parameters:"]
    rows = parameter_rows(schema)
    for label, kind, default, description, allowed in rows:
        lines.append(f"  {_plain(label)}: {_plain(kind)}, default {_plain(default)}")
        lines.append(f"      {_plain(description)}")
        if allowed != MISSING:
            lines.append(f"      allowed: {_plain(allowed)}")
    if not rows:
        lines.append("  (none)")
    lines += ["", "Example (one item of an exercise's checks:):", "", example_yaml(name, example_params(schema, kind_accepts(cls)))]
    return "\n".join(lines) + "\n"


def _refuse(reason: str) -> NoReturn:
    click.echo(f"grade: error: {reason}", err=True)
    sys.exit(ExitCode.UNUSABLE)


def _plain(markdown: str) -> str:
    return markdown.replace("`", "").replace("\\|", "|")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", required=False)
def kinds(name: str | None) -> None:
    """List the installed check kinds, or show one kind's parameters and an example."""
    if name is None:
        click.echo("\n".join(kind_lines(CHECK_KINDS)))
        return
    if name not in CHECK_KINDS:
        close = difflib.get_close_matches(name, list(CHECK_KINDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        _refuse(f"no check kind {name!r}{hint}; grade kinds lists them all")
    click.echo(kind_text(name, CHECK_KINDS[name]), nl=False)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("rubric", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the table here (default: standard output).")
def trace(rubric: Path, out: Path | None) -> None:
    """Write RUBRIC's check-to-contract table (Markdown): each check, its points, the contract sentences it enforces."""
    try:
        table = render_contract_trace(load_rubric(rubric, CHECK_KINDS))
    except GraderError as exc:
        _refuse(exc.message)
    if out is None:
        click.echo(table, nl=False)
    else:
        out.write_text(table, encoding="utf-8")
        click.echo(f"grade: wrote {out}", err=True)
