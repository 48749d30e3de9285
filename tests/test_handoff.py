"""Guide section "Next steps": handoff.issue (``invoke handoff``)."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_VALUES, exchanges_of, mutating
from tests.fakeapi import databricks_iam, github_issues, github_pulls, github_repos
from tests.test_repo import change_lines

REPO = "acme/my-mlops-project"
ISSUES = f"https://api.github.com/repos/{REPO}/issues"
TITLE = "Your MLOps project my-mlops-project is ready"
BLOB = f"https://github.com/{REPO}/blob/main"


def finished_setup(world) -> None:
    """What the earlier steps leave: the repo, the two SPs; the jobs are the fake's default."""
    github_repos.add_repo(world, REPO)
    for env in ("staging", "prod"):
        databricks_iam.add_service_principal(world, f"{env}-my-mlops-project", assigned_to=(env,))


def sent_bodies(vcr, fake_api, method: str, uri: str) -> list[dict]:
    """JSON bodies of the ``method uri`` requests this test sent (compose or replay)."""
    return [
        e.body
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.method == method and e.uri == uri
    ]


@pytest.mark.vcr
def test_fresh_run_opens_one_issue(cli, project, world, http, vcr, fake_api):
    finished_setup(world)
    result = cli("handoff")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [f"open issue '{TITLE}' on {REPO} (for @acme/data-science)"]
    assert f"https://github.com/{REPO}/issues/1" in result.out
    assert mutating(http()) == [f"POST {ISSUES}"]
    (sent,) = sent_bodies(vcr, fake_api, "POST", ISSUES)
    assert sent["title"] == TITLE
    body = sent["body"]
    assert body.startswith("@acme/data-science: the MLOps Stacks project `my-mlops-project`")
    for env in ("staging", "prod"):
        app_id = databricks_iam.application_id(f"{env}-my-mlops-project")
        assert f"{env}: `{env}-my-mlops-project`, application id `{app_id}`" in body
        assert f"{env} https://{env}.cloud.databricks.com" in body
    assert (
        "* **GitHub Actions secrets** (names only): `STAGING_WORKSPACE_TOKEN`, "
        "`PROD_WORKSPACE_TOKEN`, `WORKFLOW_TOKEN`"
    ) in body
    assert (
        "  * [`prod-my-mlops-project-batch-inference-job`]"
        "(https://prod.cloud.databricks.com/jobs/918273645501202): daily at 11:00 UTC"
    ) in body
    assert f"[docs/ml-pull-request.md]({BLOB}/docs/ml-pull-request.md)" in body
    assert (
        f"[my_mlops_project/resources/README.md]({BLOB}/my_mlops_project/resources/README.md)"
        in body
    )
    assert not any(value in body for value in FAKE_VALUES)


@pytest.mark.vcr
def test_rerun_opens_no_second_issue(cli, project, world, http):
    finished_setup(world)
    assert cli("handoff").code == 0
    sent = len(mutating(http()))
    again = cli("handoff")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "ok  hand-over issue #1 exists (open)" in again.out
    assert "handoff.issue: no changes" in again.out
    assert len(mutating(http())) == sent == 1


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    finished_setup(world)
    plan = cli("handoff", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "handoff.issue: 1 to add, 0 to change, 0 to destroy" in plan.out
    applied = cli("handoff")
    assert change_lines(plan.out) == change_lines(applied.out) != []
    assert mutating(http()) == [f"POST {ISSUES}"]


@pytest.mark.vcr
def test_issue_already_opened_is_found_even_closed(cli, project, world, http):
    github_repos.add_repo(world, REPO)
    github_pulls.open_pull(world, REPO, head="add-ml-code", base="main", title=TITLE)  # a PR
    github_issues.add_issue(world, REPO, TITLE.lower())  # another title
    github_issues.add_issue(world, REPO, TITLE, state="closed")
    result = cli("handoff")
    assert result.code == 0, result.err
    assert "ok  hand-over issue #3 exists (closed)" in result.out
    assert f"https://github.com/{REPO}/issues/3" in result.out
    assert change_lines(result.out) == []
    assert mutating(http()) == []


@pytest.mark.vcr
def test_users_are_mentioned_and_missing_parts_are_said(cli, project, world, http, vcr, fake_api):
    github_repos.add_repo(world, REPO)  # no service principals
    project.write_config(handoff={"team": "", "users": ["alice", "@bob"]})
    result = cli("handoff")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [f"open issue '{TITLE}' on {REPO} (for @alice, @bob)"]
    assert "!   service principal prod-my-mlops-project not found: the issue says so" in result.out
    (sent,) = sent_bodies(vcr, fake_api, "POST", ISSUES)
    assert sent["body"].startswith("@alice, @bob: the MLOps Stacks project")
    assert (
        "`prod-my-mlops-project` (not found: run `invoke ci.service-principals`)" in (sent["body"])
    )


@pytest.mark.vcr
def test_issues_disabled_is_explained(cli, project, world, http):
    finished_setup(world)
    world.gh["issues_disabled"] = {REPO}
    result = cli("handoff")
    assert result.code == 1
    assert f"error: issues are disabled in {REPO} (410)" in result.err
    assert "turn Issues on" in result.err
    assert "Traceback" not in result.err


def test_secret_names_and_mentions(tmp_path):
    from types import SimpleNamespace as NS

    from mlops_setup.example import write_example_project
    from mlops_setup.project import read_project
    from mlops_setup.sections.handoff import mentions, secret_names

    # the names the project's workflows read, whatever the cloud
    root = write_example_project(tmp_path / "azure", cloud="azure")
    azure = NS(model=read_project(root))
    assert secret_names(azure) == [
        "STAGING_AZURE_SP_APPLICATION_ID",
        "STAGING_AZURE_SP_CLIENT_SECRET",
        "STAGING_AZURE_SP_TENANT_ID",
        "PROD_AZURE_SP_APPLICATION_ID",
        "PROD_AZURE_SP_CLIENT_SECRET",
        "PROD_AZURE_SP_TENANT_ID",
        "WORKFLOW_TOKEN",
    ]
    team_only = NS(handoff=NS(team="data-science", users=("@carol", " ")), github=NS(owner="acme"))
    assert mentions(team_only) == ["@acme/data-science", "@carol"]
