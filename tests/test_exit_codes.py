"""README.md's exit-code table is the one truth: each code in it is a constant of the code, and
each is made to happen here (usage errors, Ctrl-C, setup.status's three outcomes)."""

from __future__ import annotations

import re

import pytest

from mlops_setup import console, guide, logs
from mlops_setup.changes import SetupError
from mlops_setup.config import ConfigError
from mlops_setup.github_util import Waiting
from tests.conftest import ROOT, run_cli

CODES = {
    console.EXIT_OK,
    console.EXIT_FAILED,
    console.EXIT_USAGE,
    console.EXIT_WAITING,
    console.EXIT_INTERRUPTED,
}


def readme_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {
        int(code): meaning
        for code, meaning in re.findall(r"^\| `(\d+)` \| (.+) \|$", section, re.M)
    }


def test_the_readme_table_lists_exactly_the_codes_of_the_code():
    table = readme_codes()
    assert set(table) == CODES
    assert "unknown task or flag" in table[console.EXIT_USAGE]
    assert "Ctrl-C" in table[console.EXIT_INTERRUPTED]
    assert "the only steps not done are waiting" in table[console.EXIT_WAITING]


def test_errors_carry_the_codes_of_the_table():
    assert SetupError("x").exit_code == console.EXIT_FAILED
    assert Waiting("x").exit_code == console.EXIT_WAITING
    assert ConfigError("x").exit_code == console.EXIT_USAGE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ci.secret"], "unknown task 'ci.secret'; did you mean 'ci.secrets'?"),
        (["ci.secrets", "--dryrun"], "unknown flag '--dryrun'; did you mean '--dry-run'?"),
        (["--dryrun", "ci.secrets"], "unknown flag '--dryrun'; did you mean '--dry-run'?"),
        (["--help", "setup.stat"], "unknown task 'setup.stat'; did you mean 'setup.status'?"),
        (["setup.plan", "--jsn"], "unknown flag '--jsn'; did you mean '--json'?"),
        (["ci"], "unknown task 'ci'; it is a namespace; its tasks: ci.prerequisites, "),
        (["nonsense"], "unknown task 'nonsense'; `invoke --list` shows every task"),
    ],
)
def test_unknown_task_or_flag_exits_2_with_a_suggestion(argv, message, tmp_path):
    result = run_cli(*argv, cwd=tmp_path)
    assert result.code == console.EXIT_USAGE
    assert result.err.startswith(message), result.err
    assert result.out == ""


def test_ctrl_c_exits_130_with_one_line(monkeypatch, tmp_path):
    from mlops_setup import session

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "load_session", interrupted)
    result = run_cli("setup.plan", cwd=tmp_path)
    assert result.code == console.EXIT_INTERRUPTED
    assert result.err.splitlines() == [
        "interrupted: nothing was applied; run the same command again: it resumes there"
    ]


def test_the_ctrl_c_line_names_what_was_applied():
    record = console.RunRecord()
    record.step = "ci.secrets"
    record.applied += [("repo.create", "created GitHub repo a/b"), ("ci.secrets", "set secret X")]
    assert record.interrupted() == (
        "interrupted during ci.secrets: 2 changes applied in repo.create, ci.secrets "
        "(the last: ci.secrets: set secret X); run the same command again: it resumes there"
    )


def rows(*states: str) -> list[tuple[str, str, str]]:
    return [(f"step{i}", state, "") for i, state in enumerate(states)]


@pytest.mark.parametrize(
    ("states", "code", "checked"),
    [
        (("done", "done"), console.EXIT_OK, console.EXIT_OK),
        (("done", "waiting"), console.EXIT_WAITING, console.EXIT_FAILED),
        (("waiting", "missing"), console.EXIT_FAILED, console.EXIT_FAILED),
        (("done", "drifted"), console.EXIT_FAILED, console.EXIT_FAILED),
        (("blocked", "done"), console.EXIT_FAILED, console.EXIT_FAILED),
    ],
)
def test_setup_status_exit_codes(states, code, checked):
    assert guide.status_code(rows(*states)) == code
    assert guide.status_code(rows(*states), check=True) == checked
    assert guide.status_document(rows(*states), code)["exit_code"] == code


def test_verbose_flag_is_taken_off_the_line_and_no_task_has_one(tmp_path):
    from invoke import FilesystemLoader
    from invoke.collection import Collection

    module, _ = FilesystemLoader(start=str(ROOT)).load("tasks")
    for context in Collection.from_module(module).to_contexts():
        assert not set(context.flags) & {"-v", "--verbose"}, context.name
    try:
        result = run_cli("-v", "--list", cwd=tmp_path)
        assert result.code == console.EXIT_OK, result.err
        assert logs.verbose()
    finally:
        logs.disable_verbose()
