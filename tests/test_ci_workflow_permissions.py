"""ci.workflow-permissions: GITHUB_TOKEN may write and open PRs; the prior value can be restored."""

from __future__ import annotations

import json

import pytest

from tests.conftest import change_lines, exchanges_of, mutating
from tests.fakeapi import github_repos

REPO = "acme/my-mlops-project"
URL = f"https://api.github.com/repos/{REPO}/actions/permissions/workflow"
SET_LINE = (
    f"update workflow permissions of {REPO} "
    "(read -> read and write; Actions may now create and approve PRs)"
)


def journal(project) -> dict:
    path = project.root / ".mlops-setup" / "journal.json"
    return json.loads(path.read_text()) if path.exists() else {}


def put_bodies(vcr, fake_api) -> list[dict]:
    return [
        e.body for e in exchanges_of(fake_api if fake_api is not None else vcr) if e.method == "PUT"
    ]


@pytest.mark.vcr
def test_fresh_repo_gets_write_and_pr_approval(cli, project, world, http, vcr, fake_api):
    github_repos.add_repo(world, REPO)
    result = cli("ci.workflow-permissions")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.workflow-permissions: what GITHUB_TOKEN may do in the repo's workflows ==",
        "  !   letting GitHub Actions create and approve pull requests is a security trade-off "
        "the guide asks for (deploy-cicd.yml opens its PR with GITHUB_TOKEN); `--revert` undoes "
        "it",
        # an update in place, from what it was (journaled for --revert) to what the guide wants
        f"  ~   updated{SET_LINE.removeprefix('update')}",
        "ci.workflow-permissions: 0 added, 1 changed, 0 destroyed",
    ]
    assert mutating(http()) == [f"PUT {URL}"]
    assert put_bodies(vcr, fake_api) == [
        {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}
    ]
    assert journal(project)["ci.workflow-permissions"] == {
        "repo": REPO,
        "prior": {
            "default_workflow_permissions": "read",
            "can_approve_pull_request_reviews": False,
        },
    }


@pytest.mark.vcr
def test_rerun_changes_nothing(cli, project, world, http):
    github_repos.add_repo(world, REPO)
    assert cli("ci.workflow-permissions").code == 0
    sent = len(mutating(http()))
    again = cli("ci.workflow-permissions")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert (
        f"ok  workflow permissions of {REPO}: read and write; Actions may create and approve "
        "pull requests"
    ) in again.out
    assert "ci.workflow-permissions: no changes" in again.out
    assert len(mutating(http())) == sent
    # the recorded prior value is the original one, not what the first run set
    assert journal(project)["ci.workflow-permissions"]["prior"]["default_workflow_permissions"] == (
        "read"
    )


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    github_repos.add_repo(world, REPO)
    plan = cli("ci.workflow-permissions", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "ci.workflow-permissions" not in journal(project)
    applied = cli("ci.workflow-permissions")
    assert change_lines(plan.out) == change_lines(applied.out) == [SET_LINE]
    assert "security trade-off" in plan.out
    assert "0 to add, 1 to change, 0 to destroy" in plan.out


@pytest.mark.vcr
def test_org_policy_that_forbids_it_is_explained(cli, project, world, http):
    github_repos.add_repo(world, REPO)
    world.gh["workflow_permissions_locked"] = {"acme"}
    result = cli("ci.workflow-permissions")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: the organisation acme does not let repositories change their workflow "
        "permissions (409: set by an organisation or enterprise policy)",
        "  fix: ask an owner of acme to allow it in "
        "https://github.com/organizations/acme/settings/actions (Workflow permissions: read and "
        "write, and allow GitHub Actions to create and approve pull requests), or to set it for "
        "this repo; then run again",
        "  see: runbook/ci.md#workflow-permissions",
    ]
    assert mutating(http()) == [f"PUT {URL}"]


@pytest.mark.vcr
def test_revert_puts_back_the_recorded_values(cli, project, world, http, vcr, fake_api):
    github_repos.add_repo(world, REPO)
    assert cli("ci.workflow-permissions").code == 0
    plan = cli("ci.workflow-permissions", "--revert", "--dry-run")
    reverted = cli("ci.workflow-permissions", "--revert")
    assert reverted.code == 0, reverted.err
    line = (
        f"restore workflow permissions of {REPO} "
        "(read and write -> read; Actions may no longer create and approve PRs)"
    )
    assert change_lines(plan.out) == change_lines(reverted.out) == [line]
    assert put_bodies(vcr, fake_api) == [
        {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True},
        {"default_workflow_permissions": "read", "can_approve_pull_request_reviews": False},
    ]
    assert "ci.workflow-permissions" not in journal(project)
    again = cli("ci.workflow-permissions", "--revert")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert f"ok  nothing recorded to put back for {REPO}" in again.out
    assert mutating(http()) == [f"PUT {URL}", f"PUT {URL}"]


@pytest.mark.vcr
def test_only_the_token_access_differs(cli, project, world, http, vcr, fake_api):
    """PR approval is on already (someone allowed it): the step changes the token's access
    alone, so it says nothing of the PR-approval trade-off it does not make (nor that
    `--revert` undoes it: the prior values keep it on)."""
    from tests.fakeapi import github_actions

    github_repos.add_repo(world, REPO)
    github_actions.permissions(world)[REPO] = {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": True,
    }
    result = cli("ci.workflow-permissions")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.workflow-permissions: what GITHUB_TOKEN may do in the repo's workflows ==",
        f"  ~   updated workflow permissions of {REPO} (read -> read and write)",
        "ci.workflow-permissions: 0 added, 1 changed, 0 destroyed",
    ]
    assert put_bodies(vcr, fake_api) == [
        {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}
    ]
