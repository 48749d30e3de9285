"""The README's two commands are the ones CI and newcomers run."""

from __future__ import annotations

import re

from tests.conftest import ROOT

CI = (ROOT / ".ci" / "run").read_text()
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    command = re.search(r"^TEST_COMMAND='(.+)'$", CI, re.MULTILINE).group(1)
    assert f"\n{command}\n" in README


def test_readme_demo_command_installs_the_package_then_runs_its_demo():
    """The first command a newcomer tries is the packaged path, not a clone's `invoke`."""
    first = re.search(r"## Two commands\n.*?```console\n(.+?)\n```", README, re.DOTALL).group(1)
    assert first == (
        "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/mlops-setup demo"
    )


def test_ci_builds_installs_and_runs_the_package_outside_the_repo():
    commands = re.search(r"^PACKAGE_COMMANDS=\((.+)\)$", CI, re.MULTILINE).group(1)
    assert commands.split() == ['"--version"', '"--list"', '"demo"']
    steps = [
        ".venv/bin/python -m build --outdir",
        'python3 -m venv "$work/venv"',
        '"$work/venv/bin/pip" install -q "$work"/dist/mlops_setup-*.whl',
        'cd "$work/elsewhere"',
        '"$work/venv/bin/mlops-setup" "$args"',
    ]
    at = [CI.index(step) for step in steps]
    assert at == sorted(at), "build, venv, install, leave the repo, run: in that order"


def test_readme_starts_with_the_users_path():
    install = README.index("pipx install")
    assert install < README.index("## Two commands")
    assert README.index("cd my-project", install) < README.index("mlops-setup setup.plan", install)
