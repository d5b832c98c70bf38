"""``grade review`` used as a person uses it: a real headless Chromium, keys pressed, the server killed and reopened.

Debian's chromium and chromedriver (``/usr/bin``; ``.ci/run`` installs them)
drive the browser; nothing is downloaded at run time. Without them the tests
are skipped with the reason, except in CI (``CI=true``), where they fail.
Screenshots of both views go to ``$REVIEW_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.review_folder import build_class_folder, student_name

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
)
WRITTEN = "ex4/written_answer"
STUDENTS = 20


def _browser_missing() -> str:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return ""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


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


def test_review_by_keyboard_survives_a_killed_server(browser: object, tmp_path: Path, record_property: object) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser
    out = build_class_folder(tmp_path, STUDENTS)
    before = canvas_grades(out)
    server, url = start_review(out)
    try:
        driver.get(url)  # type: ignore[attr-defined]
        assert progress(driver) == f"0 of {STUDENTS} reviewed"
        base = url.split("/?token=")[0]
        driver.get(f"{base}/check/{WRITTEN}")  # type: ignore[attr-defined]
        assert len(driver.find_elements("css selector", ".card")) == STUDENTS  # type: ignore[attr-defined]
        assert driver.find_elements("css selector", ".card mark")  # type: ignore[attr-defined]  # credited ideas highlighted
        shoot(driver, "by-check.png")

        started = time.monotonic()
        press(driver, "2")  # student00: 2 points
        wait_for(driver, lambda d: progress(d) == f"1 of {STUDENTS} reviewed")
        press(driver, "c", "see the lecture notes", Keys.ENTER)  # student01: a comment, then 4 points
        wait_for(driver, lambda d: progress(d) == f"2 of {STUDENTS} reviewed")
        press(driver, "4")
        wait_for(driver, lambda d: card_state(d, student_name(1)).startswith("set 4"))
        press(driver, "j", "k", Keys.ENTER)  # student02: moved away and back, the automatic score accepted
        press(driver, *[Keys.ENTER] * (STUDENTS - 3))  # typed ahead: the rest accepted
        wait_for(driver, lambda d: progress(d) == f"{STUDENTS} of {STUDENTS} reviewed")
        elapsed = time.monotonic() - started
        record_property("seconds_to_review_20_written_answers", round(elapsed, 2))
        print(f"\nreviewed {STUDENTS} written answers by keyboard in {elapsed:.2f}s")
        assert card_state(driver, student_name(0)).startswith("set 2 by Ada")
        assert card_state(driver, student_name(2)).startswith("accepted")
    finally:
        server.kill()  # SIGKILL: nothing gets to flush or clean up
        server.wait(timeout=30)

    saved = yaml.safe_load((out / "overrides.yaml").read_text(encoding="utf-8"))
    assert saved[student_name(0)][WRITTEN]["score"] == 2
    assert saved[student_name(1)][WRITTEN] | {"reviewed_at": ""} == {
        "score": 4, "comment": "see the lecture notes", "reviewer": "Ada", "reviewed_at": "",
    }
    assert saved[student_name(2)][WRITTEN]["accepted"] is True

    server, url = start_review(out)
    try:
        driver.get(url)  # type: ignore[attr-defined]
        assert progress(driver) == f"{STUDENTS} of {STUDENTS} reviewed"
        driver.get(url.split("/?token=")[0] + f"/check/{WRITTEN}")  # type: ignore[attr-defined]
        assert card_state(driver, student_name(0)).startswith("set 2 by Ada")
        assert card_state(driver, student_name(1)).startswith("set 4 by Ada")
        assert "see the lecture notes" in driver.find_element("css selector", f'.card[data-student="{student_name(1)}"]').text  # type: ignore[attr-defined]
        driver.get(url.split("/?token=")[0] + f"/student/{student_name(0)}")  # type: ignore[attr-defined]
        assert "code cell 2" in driver.find_element("tag name", "main").text  # type: ignore[attr-defined]
        shoot(driver, "by-student.png")
    finally:
        server.kill()
        server.wait(timeout=30)

    after = canvas_grades(out)
    written_auto = {s: _written_auto(out, s) for s in (student_name(0), student_name(1))}
    assert float(after[student_name(0)]) == float(before[student_name(0)]) - written_auto[student_name(0)] + 2
    assert float(after[student_name(1)]) == float(before[student_name(1)]) - written_auto[student_name(1)] + 4
    assert {s: after[s] for s in after if s not in written_auto} == {s: before[s] for s in before if s not in written_auto}


def test_every_request_without_the_token_is_refused(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    out = build_class_folder(tmp_path, 2)
    server, url = start_review(out)
    try:
        base = url.split("/?token=")[0]
        for path in ("/", f"/check/{WRITTEN}", f"/student/{student_name(0)}", "/?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == 403, path
        import http.cookiejar

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(url, timeout=10) as page:  # the token once, then its cookie through the redirect
            assert page.url == base + "/"
            assert "0 of 2 reviewed" in page.read().decode()
    finally:
        server.kill()
        server.wait(timeout=30)


def _written_auto(out: Path, student: str) -> float:
    import json

    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        if data["student"] == student:
            (check,) = [c for e in data["exercises"] for c in e["checks"] if f"{e['id']}/{c['id']}" == WRITTEN]
            return float(check["override"]["auto_score"] if check.get("override") else check["score"])
    raise AssertionError(student)

