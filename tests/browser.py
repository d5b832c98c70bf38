"""Driving ``grade review`` in a real browser: Debian's headless Chromium with its chromedriver, and the review server.

Nothing is downloaded at run time: without ``/usr/bin/chromium`` and
``/usr/bin/chromedriver`` the browser tests are skipped with the reason, except
in CI (``CI=true``), where they fail. Screenshots go to ``$REVIEW_SCREENSHOTS``
when it is set.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)


def browser_missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return ""


def start_review(out: Path) -> tuple[subprocess.Popen[str], str]:
    """``grade review OUT`` as its own process; returns it and the URL it printed."""
    command = [sys.executable, "-m", "grader", "review", str(out), "--reviewer", "Ada"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if match := re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", line):
            return server, match.group(0)
        if not line and server.poll() is not None:
            break
    server.kill()
    raise AssertionError(f"grade review printed no URL: {server.stderr.read() if server.stderr else ''}")


def progress(driver: object) -> str:
    return str(driver.find_element("id", "progress").text)  # type: ignore[attr-defined]


def wait_for(driver: object, condition: object, timeout: float = 20) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.02).until(condition)


def press(driver: object, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def card_state(driver: object, student: str) -> str:
    return str(driver.find_element("css selector", f'.card[data-student="{student}"] .state').text)  # type: ignore[attr-defined]


def shoot(driver: object, name: str) -> None:
    folder = os.environ.get("REVIEW_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))  # type: ignore[attr-defined]


def canvas_grades(out: Path) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO((out / "gradebook-canvas.csv").read_text(encoding="utf-8"), newline="")))
    return {row[3]: row[5] for row in rows[2:]}
