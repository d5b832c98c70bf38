"""``grade review`` used as a person uses it: a real headless Chromium, keys pressed, the server killed and reopened.

The class folder is built without kernels (tests/review_folder.py); the same
review over a class really graded by a batch is tests/e2e/test_class_review.py.
How the browser is driven, and when its tests are skipped: tests/browser.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.browser import canvas_grades, card_state, press, progress, shoot, start_review, wait_for
from tests.review_folder import build_class_folder, student_name

WRITTEN = "ex4/written_answer"
STUDENTS = 20


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

