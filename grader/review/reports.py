"""Writing the reports again after decisions, in the background, one run at a time.

A decision is saved before the reviewer's key press is answered; the
gradebooks, feedback pages and summary follow a moment later. Decisions that
arrive while the reports are being written are folded into the next run.
When a ``grade`` batch holds the folder, the run waits and tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.errors import GraderError

RETRY_S = 2.0


class ReportWriter:
    """A daemon thread that writes ``out``'s reports whenever :meth:`request` was called since its last run."""

    def __init__(self, out: Path, overrides: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self.out = out
        self._overrides = overrides
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.status = "reports up to date"
        threading.Thread(target=self._run, name="review-reports", daemon=True).start()

    def request(self) -> None:
        self._idle.clear()
        self._wanted.set()

    def wait(self, timeout: float) -> bool:
        """Wait until every requested run is done (for tests and for a clean exit)."""
        return self._idle.wait(timeout)

    def write_now(self) -> None:
        """Write the reports in this thread (at start: decisions saved by a server that was killed)."""
        from grader.batch import rewrite_reports

        rewrite_reports(self.out, self._overrides())
        self.status = f"reports written at {datetime.now():%H:%M:%S}"

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self.write_now()
            except GraderError as exc:
                self.status = f"reports not written yet: {exc.message}"
                time.sleep(RETRY_S)
                self._wanted.set()
                continue
            except Exception as exc:  # noqa: BLE001 - shown on the page; the decisions themselves are already saved
                self.status = f"reports not written: {type(exc).__name__}: {exc}"
            if not self._wanted.is_set():
                self._idle.set()
