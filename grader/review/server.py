"""``grade review OUT_DIR``: serve the review on 127.0.0.1, on a free port, behind a secret token; print its URL."""

from __future__ import annotations

import getpass
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

HOST = "127.0.0.1"  # never another interface: the review shows students' work and changes their grades


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", metavar="OUT_DIR", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--reviewer", metavar="NAME", help="Who decides, as the overrides file records it (default: your user name).")
@click.option("--overrides", type=click.Path(path_type=Path, dir_okay=False),
              help="The overrides file to read and write (default: OUT_DIR/overrides.yaml, which a batch into OUT_DIR reads).")
@click.option("--port", type=int, default=0, show_default="a free port", help="The port to listen on.")
def review(out: Path, reviewer: str | None, overrides: Path | None, port: int) -> None:
    """Review a graded class folder in your browser: score and comment answers by check or by student.

    Every decision is saved at once to the overrides file and the gradebooks,
    feedback pages and summary are written again from results.jsonl (nothing
    is regraded).
    """
    from grader.errors import GraderError

    try:
        server, url = start(out, reviewer or _user(), overrides, port)
    except GraderError as exc:
        click.echo(f"grade review: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"grade review: {out} is served at\n    {url}\n(Ctrl-C stops it; every decision is already saved)", err=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("grade review: stopped")
    finally:
        server.server_close()


def start(out: Path, reviewer: str, overrides: Path | None = None, port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Load the folder, write its reports once (decisions a killed server left), and bind the server: (server, URL)."""
    from werkzeug.serving import make_server

    from grader.errors import UsageError
    from grader.review.app import create_app
    from grader.review.folder import ClassFolder
    from grader.review.reports import ReportWriter

    folder = ClassFolder(out, overrides)
    writer = ReportWriter(out, folder.snapshot)
    if folder.overrides:  # decisions a killed server had no time to write into the reports
        try:
            writer.write_now()
        except UsageError:  # a batch is writing the folder: the writer tries again in the background
            writer.request()
    token = secrets.token_urlsafe(32)
    server = make_server(HOST, port, create_app(folder, token, reviewer, writer), threaded=True)
    return server, f"http://{HOST}:{server.server_port}/?token={token}"


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name to be found (a container without one): still a name to record
        return "reviewer"
