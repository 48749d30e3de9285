"""ci.workflows: deploy-cicd.yml dispatched, waited for, its pull request found and merged."""

from __future__ import annotations

import pytest

from mlops_setup.example import PROJECT_WORKFLOWS, project_files
from tests.conftest import change_lines, mutating, told
from tests.fakeapi import github_error, github_pulls, github_repos

REPO = "acme/my-mlops-project"
API = f"https://api.github.com/repos/{REPO}"
WEB = f"https://github.com/{REPO}"
RUN = 30433642  # the id the fake gives the first run
BRANCH = "add-cicd-for-my-mlops-project-1772442090"  # the fake's run pushes it at NOW + 90 s
DISPATCH = "dispatch deploy-cicd.yml on main (project_name=my-mlops-project)"
MERGE_NEW = "merge the PR deploy-cicd.yml opens -> main (merge)"
POST_DISPATCH = f"POST {API}/actions/workflows/{{wid}}/dispatches"
WORKFLOWS = PROJECT_WORKFLOWS("my-mlops-project")
# A Project_Only project in the CI/CD root: its workflows come from deploy-cicd.yml.
pytestmark = pytest.mark.project_only


def code_on_main(cli, project) -> None:
    """The repo section, which for a Project_Only project in a CI/CD root commits the whole
    tree (the guide's `git add .`): the project code is on main before deploy-cicd.yml runs."""
    result = cli("repo")
    assert result.code == 0, result.err
    assert "the whole tree (git add .)" in result.out
    assert not project.git("status", "--porcelain")


def dispatches(http) -> list[str]:
    return [u for m, u in http() if m == "POST" and u.endswith("/dispatches")]


@pytest.mark.vcr
def test_fresh_repo_dispatches_waits_and_merges(cli, project, world, http, no_sleep):
    code_on_main(cli, project)
    result = cli("ci.workflows", "--merge", "--fix-targets")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [DISPATCH, MERGE_NEW]
    assert result.out.splitlines()[1:-1] == [
        "  +   dispatching deploy-cicd.yml on main ...",  # it prints before it is done
        f"  ..  deploy-cicd.yml run {RUN}: queued: {WEB}/actions/runs/{RUN}",
        f"  ..  deploy-cicd.yml run {RUN}: in_progress after 5s",
        f"  ..  deploy-cicd.yml run {RUN}: completed, success after 15s",
        f"  PR #1 opened: {WEB}/pull/1",
        told(DISPATCH),
        told(MERGE_NEW),
    ]
    made = [m for m in mutating(http()) if "api.github.com" in m and "/orgs/" not in m]
    assert len(made) == 3
    assert made[0].startswith(f"POST {API}/actions/workflows/") and made[0].endswith("/dispatches")
    assert made[1] == f"PUT {API}/contents/my_mlops_project/databricks.yml"  # the targets
    assert made[2] == f"PUT {API}/pulls/1/merge"
    assert no_sleep.calls == [5, 10]
    on_master = project.upstream_git("ls-tree", "-r", "--name-only", "main").splitlines()
    assert all(path in on_master for path in WORKFLOWS)


@pytest.mark.vcr
def test_finished_setup_rerun_sends_no_mutating_request(cli, project, world, http):
    code_on_main(cli, project)
    assert cli("ci.workflows", "--merge", "--fix-targets").code == 0
    sent = len(mutating(http()))
    again = cli("ci.workflows", "--merge", "--fix-targets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert (
        "ok  the CI/CD workflows of my-mlops-project are on main: nothing to dispatch" in again.out
    )
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    code_on_main(cli, project)
    sent = len(mutating(http()))
    plan = cli("ci.workflows", "--merge", "--fix-targets", "--dry-run")
    assert plan.code == 0, plan.err
    assert len(mutating(http())) == sent
    applied = cli("ci.workflows", "--merge", "--fix-targets")
    assert applied.code == 0, applied.err
    assert change_lines(plan.out) == change_lines(applied.out) == [DISPATCH, MERGE_NEW]
    assert "ci.workflows: 1 to add, 1 to change, 0 to destroy" in plan.out


@pytest.mark.vcr
def test_project_generated_with_cicd_needs_no_dispatch(cli, project, world, http):
    github_repos.add_repo(world, REPO)
    files = project_files("my-mlops-project", with_cicd=True)
    for path in WORKFLOWS:
        (project.root / path).write_bytes(files[path])
    result = cli("ci.workflows", "--merge", "--fix-targets")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert (
        "ok  my-mlops-project was generated with its CI/CD workflows: nothing to dispatch; they "
        "reach main with the ML code pull request (`invoke code`)"
    ) in result.out
    assert mutating(http()) == []
    assert dispatches(http) == []


@pytest.mark.vcr
def test_failed_run_prints_its_url_and_the_failing_job(cli, project, world, http):
    code_on_main(cli, project)
    world.gh["next_run"] = {"conclusion": "failure", "polls": 1}
    result = cli("ci.workflows", "--merge", "--fix-targets")
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[:3] == [
        f"error: deploy-cicd.yml run {RUN} ended failure",
        f"  run: {WEB}/actions/runs/{RUN}",
        "  failing job: cicd at step 'Render the project workflows' (failure): "
        f"{WEB}/actions/runs/{RUN}/job/50433642",
    ]
    assert "fix: read the failing job's log, fix the cause, then run again" in result.err
    assert not any("/merge" in m for m in mutating(http()))


@pytest.mark.vcr
def test_run_that_does_not_finish_in_time_is_given_up_then_resumed(
    cli, project, world, http, no_sleep
):
    code_on_main(cli, project)
    project.write_config(ci={"wait_timeout": 300})
    world.gh["next_run"] = {"conclusion": "success", "polls": 12}  # longer than the bound
    result = cli("ci.workflows")
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        f"error: deploy-cicd.yml run {RUN} did not finish within 300s (still in_progress)",
        f"  fix: follow it at {WEB}/actions/runs/{RUN}; a re-run waits for it instead of "
        "starting another, or raise ci.wait_timeout",
    ]
    assert no_sleep.calls == [5, 10, 20, 40, 60, 60, 60, 45]  # bounded: never past 300 s
    assert sum(no_sleep.calls) == 300
    # the re-run waits for that run instead of dispatching another one
    again = cli("ci.workflows")
    assert again.code == 0, again.err
    assert again.out.splitlines()[1:-1] == [
        f"  ..  deploy-cicd.yml run {RUN} is already in_progress, waiting for it: "
        f"{WEB}/actions/runs/{RUN}",
        f"  ..  deploy-cicd.yml run {RUN}: in_progress: {WEB}/actions/runs/{RUN}",
        f"  ..  deploy-cicd.yml run {RUN}: completed, success after 35s",
        f"  ok  PR #1 opened by deploy-cicd.yml run {RUN}: {WEB}/pull/1",
        "  >   review and merge the CI/CD pull request on GitHub, or run `invoke ci.workflows "
        "--merge`",
    ]
    assert len(dispatches(http)) == 1


@pytest.mark.vcr
def test_server_that_rejects_return_run_details_falls_back_to_listing(cli, project, world, http):
    code_on_main(cli, project)
    world.gh["dispatch_rejects_run_details"] = True
    result = cli("ci.workflows")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [DISPATCH]
    assert f"PR #1 opened: {WEB}/pull/1" in result.out
    assert len(dispatches(http)) == 2  # rejected (422, started nothing), then plain (204)
    listed = [u for m, u in http() if m == "GET" and "/runs?" in u]
    assert any("created=%3E%3D2026-03-02T08%3A59%3A00Z" in u for u in listed)


@pytest.mark.vcr
def test_merge_blocked_by_protection_is_reported_and_resumed(cli, project, world, http):
    code_on_main(cli, project)
    github_pulls.protect(world, REPO, "main", reviews=1)
    blocked = cli("ci.workflows", "--merge", "--fix-targets")
    assert blocked.code == 3
    assert blocked.err.splitlines() == [
        "error: GitHub will not merge PR #1 yet (405): At least 1 approving review is required "
        "by reviewers with write access; main requires 1 approving review",
        f"  fix: get it ready at {WEB}/pull/1 (approve it, or ask an admin to adjust the "
        "protection of main), then run again: it resumes at the merge (1 change(s) before "
        "this one were applied; a re-run resumes here)",
        "  see: runbook/ci.md#workflows",
    ]
    github_pulls.add_review(world, REPO, 1, "team-lead")
    resumed = cli("ci.workflows", "--merge", "--fix-targets")
    assert resumed.code == 0, resumed.err
    assert f"ok  PR #1 from {BRANCH} is open: {WEB}/pull/1" in resumed.out
    (line,) = change_lines(resumed.out)
    assert line.startswith(f"merge PR #1 {BRANCH} -> main (merge, head ")
    assert len(dispatches(http)) == 1
    assert [m for m in mutating(http()) if m.endswith("/merge")] == [
        f"PUT {API}/pulls/1/merge",
        f"PUT {API}/pulls/1/merge",
    ]


@pytest.mark.vcr
def test_head_moved_before_the_merge_is_reported(cli, project, world, http):
    code_on_main(cli, project)
    world.queue(
        "PUT",
        f"/repos/{REPO}/pulls/1/merge",
        github_error(409, "Head branch was modified. Review and try the merge again."),
    )
    result = cli("ci.workflows", "--merge", "--fix-targets")
    assert result.code == 1
    assert result.err.splitlines()[0].startswith(
        "error: the head of PR #1 moved after it was checked (we checked "
    )
    assert result.err.splitlines()[0].endswith("); nothing was merged")
    assert "fix: run again: it checks the new head before merging" in result.err
    assert project.upstream_git("rev-parse", "main") == project.git("rev-parse", "main")


@pytest.mark.vcr
def test_targets_deploy_cicd_left_out_are_explained_then_fixed(cli, project, world, http):
    """Template v0.4-v0.5's deploy-cicd.yml writes the staging/prod/test targets to a file
    named 'my_mlops_project\\databricks.yml': the PR's databricks.yml lacks them."""
    code_on_main(cli, project)
    refused = cli("ci.workflows", "--merge")
    assert refused.code == 1
    assert refused.err.splitlines()[0] == (
        "error: PR #1 leaves my_mlops_project/databricks.yml without the staging, prod, test "
        "target(s): deploy-cicd.yml (template v0.4-v0.5) appends them to a file named "
        "'my_mlops_project\\databricks.yml' instead, so staging CD would fail with no such target"
    )
    assert "invoke ci.workflows --fix-targets" in refused.err
    assert not [m for m in mutating(http()) if m.endswith("/merge")]  # nothing merged
    preview = cli("ci.workflows", "--merge", "--fix-targets", "--dry-run")
    assert preview.code == 0, preview.err
    fixed = cli("ci.workflows", "--merge", "--fix-targets")
    assert fixed.code == 0, fixed.err
    assert change_lines(fixed.out)[0] == (
        f"commit targets staging, prod, test to my_mlops_project/databricks.yml (on {BRANCH})"
    )
    assert change_lines(preview.out)[0] == change_lines(fixed.out)[0]
    import yaml

    merged = yaml.safe_load(project.upstream_git("show", "main:my_mlops_project/databricks.yml"))
    assert set(merged["targets"]) == {"dev", "staging", "prod", "test"}
    assert merged["targets"]["prod"]["workspace"]["host"] == "https://prod.cloud.databricks.com"
    assert merged["targets"]["test"]["variables"]["catalog_name"] == "test"
