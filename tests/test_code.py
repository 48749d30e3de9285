"""Guide section "Merge a PR with your initial ML code": code.pr (``invoke code``)."""

from __future__ import annotations

import pytest

from mlops_setup.example import project_files
from tests.conftest import change_lines, mutating, told
from tests.fakeapi import github_pulls
from tests.test_repo import DOC_PATHS

REPO = "acme/my-mlops-project"
API = f"https://api.github.com/repos/{REPO}"
WEB = f"https://github.com/{REPO}"
CHECKS = [("unit_tests", "success"), ("staging", "success"), ("prod", "success")]
ML_FILES = len(project_files("my-mlops-project")) - len(DOC_PATHS)
FRESH = [
    "create branch add-ml-code from main",
    f"commit the ML code on add-ml-code ({ML_FILES} files)",
    "push add-ml-code to upstream",
    "open PR add-ml-code -> main",
]
MERGE = [
    "merge PR add-ml-code -> main (merge)",
    "update local main from upstream (and check out main)",
]


def repo_pushed(cli) -> None:
    result = cli("repo")
    assert result.code == 0, result.err


def github_mutations(http) -> list[str]:
    return [m for m in mutating(http()) if "api.github.com" in m and "/orgs/" not in m]


@pytest.mark.vcr
def test_fresh_project_is_committed_checked_and_merged(cli, project, world, http, no_sleep):
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=1)
    result = cli("code", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH + MERGE
    head = project.git("rev-parse", "add-ml-code")
    assert (
        result.out.splitlines()[1:-1]
        == [
            told(FRESH[0]),
            told(FRESH[1]),
            told(FRESH[2], kind="create"),  # a new branch on the remote
            "  +   opening PR add-ml-code -> main ...",  # it waits for checks before it is done
            f"  ..  checks on PR #1 ({head[:7]}): 3 checks: 0 passed, 3 running",
            f"  ..  checks on PR #1 ({head[:7]}): 3 checks: 3 passed after 5s",
            told(FRESH[3]),
            told(MERGE[0]),
            told(MERGE[1]),
            f"  >   PR #1: {WEB}/pull/1",
        ]
    )
    assert github_mutations(http) == [f"POST {API}/pulls", f"PUT {API}/pulls/1/merge"]
    assert no_sleep.calls == [5]
    # main, locally and upstream, holds the ML code; the working tree is on main and clean
    assert project.git("symbolic-ref", "--short", "HEAD") == "main"
    assert project.git("rev-parse", "main") == project.upstream_git("rev-parse", "main")
    on_master = project.upstream_git("ls-tree", "-r", "--name-only", "main").splitlines()
    assert "my_mlops_project/databricks.yml" in on_master
    assert not any(p.startswith(".mlops-setup") for p in on_master)
    assert project.git("status", "--porcelain") == ""


def check_polls(http) -> int:
    return sum(1 for m, u in http() if m == "GET" and u.split("?")[0].endswith("/check-runs"))


@pytest.mark.vcr
def test_checks_that_start_late_are_waited_for_then_merged(cli, project, world, http, no_sleep):
    """Workflows take a moment to start: no check run for two looks, then they are there and
    green; the step keeps looking (bounded backoff) and merges."""
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, absent=2, pending=0)
    result = cli("code", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH + MERGE
    head = project.git("rev-parse", "add-ml-code")[:7]
    assert [ln.strip() for ln in result.out.splitlines() if ln.strip().startswith("..")] == [
        f"..  checks on PR #1 ({head}): none started yet",  # one line per state, not per poll
        f"..  checks on PR #1 ({head}): 3 checks: 3 passed after 15s",
    ]
    assert no_sleep.calls == [5, 10]
    assert check_polls(http) == 3
    assert github_mutations(http) == [f"POST {API}/pulls", f"PUT {API}/pulls/1/merge"]
    assert project.git("rev-parse", "main") == project.upstream_git("rev-parse", "main")


@pytest.mark.vcr
def test_checks_that_never_start_are_given_up_on_and_the_pr_merged(
    cli, project, world, http, no_sleep
):
    """No check run ever appears on the pull request (no workflow runs on it): after looking
    for twice ci.poll_max (120 s by default) there is nothing to wait for, and ``--merge``
    merges, as ``wait_for_checks`` promises. Only check runs that exist can fail the step;
    GitHub itself refuses the merge (405) if the base's protection requires a check."""
    repo_pushed(cli)
    # no github_pulls.set_checks: the head commit never gets a check run
    result = cli("code", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH + MERGE
    head = project.git("rev-parse", "add-ml-code")[:7]
    assert [ln.strip() for ln in result.out.splitlines() if ln.strip().startswith("..")] == [
        f"..  checks on PR #1 ({head}): none started yet",
        f"..  checks on PR #1 ({head}): none started; nothing to wait for after 2m15s",
    ]
    # bounded: the looks stop once 2 * ci.poll_max (120 s) has passed, far inside
    # ci.wait_timeout (1800 s)
    assert no_sleep.calls == [5, 10, 20, 40, 60]
    assert 120 <= sum(no_sleep.calls) < 120 + 60
    assert check_polls(http) == 6
    assert github_mutations(http) == [f"POST {API}/pulls", f"PUT {API}/pulls/1/merge"]
    assert project.git("rev-parse", "main") == project.upstream_git("rev-parse", "main")


@pytest.mark.vcr
def test_finished_section_rerun_sends_no_mutating_request(cli, project, world, http):
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)
    assert cli("code", "--merge").code == 0
    sent = len(mutating(http()))
    upstream = project.upstream_git("rev-parse", "main")
    again = cli("code", "--merge")
    assert again.code == 0, again.err
    assert again.out.splitlines() == [
        "== code.pr: the pull request with the ML code ==",
        f"  ok  ML code merged into main in PR #1: {WEB}/pull/1",
        "  ok  local main is up to date with upstream",
        "code.pr: no changes",
    ]
    assert len(mutating(http())) == sent
    assert project.upstream_git("rev-parse", "main") == upstream


@pytest.mark.vcr
def test_rerun_after_later_merges_on_github_changes_nothing(cli, project, world, http, tmp_path):
    """GitHub is the source of truth: later merges to main are no drift of this step."""
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)
    assert cli("code", "--merge").code == 0
    project.commit_upstream("NOTES.md", "a later PR, merged on GitHub\n", "later PR")
    sent = len(mutating(http()))
    local = project.git("rev-parse", "main")
    again = cli("code", "--merge")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "the local main is behind upstream/main" in again.out
    assert "code.pr: no changes" in again.out
    assert len(mutating(http())) == sent
    assert project.git("rev-parse", "main") == local  # the local clone is the operator's


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)
    sent = len(mutating(http()))
    plan = cli("code", "--merge", "--dry-run")
    assert plan.code == 0, plan.err
    assert len(mutating(http())) == sent
    assert project.git("symbolic-ref", "--short", "HEAD") == "main"
    assert project.git("branch", "--list", "add-ml-code") == ""
    applied = cli("code", "--merge")
    assert applied.code == 0, applied.err
    assert change_lines(plan.out) == change_lines(applied.out) == FRESH + MERGE
    assert "code.pr: 4 to add, 2 to change, 0 to destroy" in plan.out


@pytest.mark.vcr
def test_failing_checks_are_listed_and_nothing_is_merged(cli, project, world, http):
    repo_pushed(cli)
    github_pulls.set_checks(
        world, "add-ml-code", [("unit_tests", "failure"), ("staging", "success")], pending=1
    )
    result = cli("code", "--merge")
    assert result.code == 1
    head = project.git("rev-parse", "add-ml-code")
    assert result.err.splitlines() == [
        f"error: checks on PR #1 ({head[:7]}): 2 checks: 1 passed, 1 failed",
        f"  failed: unit_tests (failure): {WEB}/actions/runs/30433642/job/21000001",
        "  fix: fix what the failing checks report and push to the same branch; a re-run waits "
        "for the checks on the new head (3 change(s) before this one were applied; a re-run "
        "resumes here)",
        "  see: runbook/code.md#pr",
    ]
    assert github_mutations(http) == [f"POST {API}/pulls"]
    assert project.upstream_git("ls-tree", "--name-only", "main", "my_mlops_project/") == (
        "my_mlops_project/resources"
    )


@pytest.mark.vcr
def test_required_review_stops_then_a_rerun_resumes(cli, project, world, http):
    repo_pushed(cli)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)
    github_pulls.protect(world, REPO, "main", reviews=1)
    waiting = cli("code", "--merge")
    assert waiting.code == 3
    assert waiting.err.splitlines()[0] == (
        f"error: waiting for review: PR #1 needs 1 approving review, has 0: {WEB}/pull/1"
    )
    assert "fix: run again once it is approved: it resumes at the merge" in waiting.err
    assert github_mutations(http) == [f"POST {API}/pulls"]
    github_pulls.add_review(world, REPO, 1, "team-lead")
    resumed = cli("code", "--merge")
    assert resumed.code == 0, resumed.err
    head = project.git("rev-parse", "add-ml-code")
    assert change_lines(resumed.out) == [
        f"merge PR #1 add-ml-code -> main (merge, head {head[:7]})",
        MERGE[1],
    ]
    assert f"ok  PR #1 add-ml-code -> main is open: {WEB}/pull/1" in resumed.out
    assert github_mutations(http) == [f"POST {API}/pulls", f"PUT {API}/pulls/1/merge"]
    assert project.git("rev-parse", "main") == project.upstream_git("rev-parse", "main")


@pytest.mark.vcr
def test_local_master_behind_upstream_is_fast_forwarded_first(cli, project, world, http, tmp_path):
    repo_pushed(cli)
    # meanwhile a pull request (the CI/CD one, say) was merged into main on GitHub
    project.commit_upstream("CHANGELOG.md", "merged on GitHub\n", "Merged on GitHub")
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)
    result = cli("code")
    assert result.code == 0, result.err
    assert change_lines(result.out) == ["update local main from upstream (fast-forward)", *FRESH]
    assert "merge it once the checks pass: `invoke code --merge`" in result.out
    # the branch starts from GitHub's main, so the pull request carries only the ML code
    assert project.git("merge-base", "--is-ancestor", "upstream/main", "add-ml-code") == ""
    assert github_mutations(http) == [f"POST {API}/pulls"]


@pytest.mark.vcr
def test_files_that_look_like_credentials_are_never_pushed(cli, project, world, http):
    """The whole project tree goes to GitHub: a stray credential stops the step first."""
    repo_pushed(cli)
    (project.root / "my_mlops_project" / ".databrickscfg").write_text("[DEFAULT]\n")
    leaked = "dapi" + "0123456789abcdef" * 2
    (project.root / "my_mlops_project" / "notes.txt").write_text(f"token {leaked}\n")
    sent = len(mutating(http()))
    result = cli("code", "--merge")
    assert result.code == 1
    assert "look like credentials: my_mlops_project/.databrickscfg, my_mlops_project/notes.txt" in (
        result.err
    )
    assert leaked not in result.out + result.err
    assert len(mutating(http())) == sent
    assert project.git("branch", "--list", "add-ml-code") in ("", "  add-ml-code", "* add-ml-code")
    assert project.upstream_git("branch", "--list", "add-ml-code") == ""
