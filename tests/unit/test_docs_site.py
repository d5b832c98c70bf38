"""The docs site builds with no warning (a broken link or anchor fails), and the README's links lead somewhere."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.checks.registry import CHECK_KINDS
from tests.conftest import ROOT


def test_the_site_builds_strictly_with_the_generated_check_kind_page(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs is not installed, and CI must build the docs: pip install -e '.[test]'")
        pytest.skip("mkdocs is not installed (it comes with the test extra: pip install -e '.[test]')")
    site = tmp_path / "site"  # no --quiet: it hides the warnings that --strict counts, and a broken link would pass
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    page = (site / "reference" / "check-kinds" / "index.html").read_text(encoding="utf-8")
    assert "<!-- check kinds:" not in page
    for kind in CHECK_KINDS:
        assert f'id="{kind}"' in page, kind
    assert not (site / "hooks.py").exists()


def test_every_relative_link_in_the_readme_leads_to_a_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme) if "://" not in t]
    assert targets
    assert [t for t in targets if not (ROOT / t).is_file()] == []
