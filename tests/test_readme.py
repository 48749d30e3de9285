"""The README's two commands are the ones CI and newcomers run."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"^TEST_COMMAND='(.+)'$", ci, re.MULTILINE).group(1)
    readme = (ROOT / "README.md").read_text()
    assert f"\n{command}\n" in readme


def test_readme_demo_command_installs_then_runs_the_demo():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -q -r requirements.txt && .venv/bin/invoke demo\n" in readme
