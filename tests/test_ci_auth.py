"""ci.auth_mode beyond tokens: GitHub OIDC federation and OAuth secrets (ci.secrets stores what
the mode needs), and ci.auth, which points the workflows at the mode and retires the old one."""

from __future__ import annotations

import pytest

from tests.conftest import FAKE_VALUES, change_lines, exchanges_of, mutating
from tests.fakeapi import (
    Reply,
    databricks_iam,
    databricks_oauth,
    github_environments,
    github_error,
    github_pulls,
    github_repos,
)

REPO = "acme/my-mlops-project"
GH = f"https://api.github.com/repos/{REPO}"
ACCOUNT = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
ACCT = f"https://accounts.cloud.databricks.com/api/2.0/accounts/{ACCOUNT}/servicePrincipals"
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"
STAGING_ID, PROD_ID = "7001000000000001", "7001000000000002"  # ids the fake gives them
ISSUER = "https://token.actions.githubusercontent.com"


def seed(world) -> dict:
    """A repo, and both SPs in the account, each assigned to its workspace."""
    github_repos.add_repo(world, REPO)
    return {
        "staging": databricks_iam.add_service_principal(
            world, STAGING_SP, assigned_to=("staging",)
        ),
        "prod": databricks_iam.add_service_principal(world, PROD_SP, assigned_to=("prod",)),
    }


def oidc(project, **ci) -> None:
    project.write_config(ci={"auth_mode": "oidc", **ci})


def oidc_fresh(sps) -> list[str]:
    return [
        f"create federation policy github-actions-staging of SP {STAGING_SP} "
        f"(repo:{REPO}:environment:staging)",
        f"create federation policy github-actions-prod of SP {PROD_SP} "
        f"(repo:{REPO}:environment:prod)",
        "create GitHub environment staging",
        "create GitHub environment prod (release branch release only)",
        "add deployment branch policy release to GitHub environment prod",
        f"create variable STAGING_DATABRICKS_CLIENT_ID ({sps['staging']['applicationId']})",
        f"create variable PROD_DATABRICKS_CLIENT_ID ({sps['prod']['applicationId']})",
        "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)",
    ]


OIDC_REQUESTS = [
    f"POST {ACCT}/{STAGING_ID}/federationPolicies?policy_id=github-actions-staging",
    f"POST {ACCT}/{PROD_ID}/federationPolicies?policy_id=github-actions-prod",
    f"PUT {GH}/environments/staging",
    f"PUT {GH}/environments/prod",
    f"POST {GH}/environments/prod/deployment-branch-policies",
    f"POST {GH}/actions/variables",
    f"POST {GH}/actions/variables",
    f"PUT {GH}/actions/secrets/WORKFLOW_TOKEN",
]


def bodies(vcr, fake_api, method: str, contains: str) -> list:
    return [
        e.body
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.method == method and contains in e.uri
    ]


@pytest.mark.vcr
def test_oidc_stores_no_databricks_secret_and_locks_prod(cli, project, world, http, vcr, fake_api):
    sps = seed(world)
    oidc(project)
    plan = cli("ci.secrets", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert change_lines(plan.out) == change_lines(result.out) == oidc_fresh(sps)
    assert mutating(http()) == OIDC_REQUESTS
    assert (
        "the project's workflows still read STAGING_WORKSPACE_TOKEN, PROD_WORKSPACE_TOKEN: "
        "`invoke code` (workflows not on GitHub yet) or `invoke ci.auth` switches them to oidc"
    ) in result.out
    # the policies: GitHub's issuer, the account as audience, one environment of one repo each
    sent = bodies(vcr, fake_api, "POST", "/federationPolicies")
    assert [b["oidc_policy"] for b in sent] == [
        {"issuer": ISSUER, "audiences": [ACCOUNT], "subject": f"repo:{REPO}:environment:{env}"}
        for env in ("staging", "prod")
    ]
    # prod: custom deployment branches, and the one branch is the project's release branch
    (prod_env,) = bodies(vcr, fake_api, "PUT", "/environments/prod")
    assert prod_env == {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}
    }
    (policy,) = bodies(vcr, fake_api, "POST", "/deployment-branch-policies")
    assert policy == {"name": "release", "type": "branch"}
    assert bodies(vcr, fake_api, "POST", "/actions/variables") == [
        {"name": "STAGING_DATABRICKS_CLIENT_ID", "value": sps["staging"]["applicationId"]},
        {"name": "PROD_DATABRICKS_CLIENT_ID", "value": sps["prod"]["applicationId"]},
    ]
    # the only secret written is the GitHub PAT
    assert [m for m in mutating(http()) if "/secrets/" in m] == [
        f"PUT {GH}/actions/secrets/WORKFLOW_TOKEN"
    ]
    # a re-run of a finished setup changes nothing and sends no mutating request
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "ok  deployment branch policy of GitHub environment prod: release" in again.out
    assert len(mutating(http())) == len(OIDC_REQUESTS)
    for value in FAKE_VALUES:
        assert value not in result.out + result.err + again.out


@pytest.mark.vcr
def test_oidc_prod_follows_the_projects_release_branch_and_reviewers(
    cli, project, world, http, vcr, fake_api
):
    """The branch comes from the generated project (its prod CD trigger), not from a default;
    reviewers from ci.prod_reviewers; a stray branch policy on prod is removed."""
    project.regenerate(release_branch="stable")
    seed(world)
    github_environments.add_user(world, "alice", 1202)
    github_environments.add_environment(world, REPO, "prod", branches=("main",))
    oidc(project, prod_reviewers=["alice"])
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    lines = change_lines(result.out)
    assert "update GitHub environment prod (release branch stable only, reviewers alice)" in lines
    assert "add deployment branch policy stable to GitHub environment prod" in lines
    assert (
        "remove deployment branch policy main from GitHub environment prod "
        "(prod deploys from stable only)"
    ) in lines
    (prod_env,) = bodies(vcr, fake_api, "PUT", "/environments/prod")
    assert prod_env["reviewers"] == [{"type": "User", "id": 1202}]
    assert bodies(vcr, fake_api, "POST", "/deployment-branch-policies") == [
        {"name": "stable", "type": "branch"}
    ]
    again = cli("ci.secrets")
    assert change_lines(again.out) == []
    assert "ok  GitHub environment prod: deployment branches chosen by policy, reviewers alice" in (
        again.out
    )


@pytest.mark.vcr
def test_oidc_policy_conflict_adopted_when_it_matches(cli, project, world, http):
    """The create is answered 409 (a colleague's run made it meanwhile, or our answer was lost):
    the policy is read, and adopted because it says the same."""
    seed(world)
    oidc(project)
    # listing misses it (made after our read), the create finds it
    world.queue(
        "GET",
        rf"/api/2.0/accounts/{ACCOUNT}/servicePrincipals/{PROD_ID}/federationPolicies",
        databricks_oauth.list_reply(),
    )
    databricks_oauth.add_policy(
        world, ACCOUNT, PROD_ID, "github-actions-prod", subject=f"repo:{REPO}:environment:prod"
    )
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert (
        f"federation policy github-actions-prod of SP {PROD_SP} was already there with the same "
        "subject: adopted"
    ) in result.out
    assert f"GET {ACCT}/{PROD_ID}/federationPolicies/github-actions-prod" in [
        f"{m} {u}" for m, u in http()
    ]


@pytest.mark.vcr
def test_oidc_policy_conflict_naming_another_subject_is_refused(cli, project, world, http):
    seed(world)
    oidc(project)
    world.queue(
        "GET",
        rf"/api/2.0/accounts/{ACCOUNT}/servicePrincipals/{PROD_ID}/federationPolicies",
        databricks_oauth.list_reply(),
    )
    databricks_oauth.add_policy(
        world, ACCOUNT, PROD_ID, "github-actions-prod", subject="repo:evil/fork:environment:prod"
    )
    result = cli("ci.secrets")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "error: federation policy github-actions-prod of the prod service principal lets "
        f"repo:evil/fork:environment:prod act as it, not repo:{REPO}:environment:prod"
    )
    # staging's policy was made before; nothing on GitHub was touched, no PAT written
    assert [m for m in mutating(http()) if "api.github.com" in m] == []


@pytest.mark.vcr
def test_oidc_existing_policy_of_another_repo_is_refused_before_any_change(
    cli, project, world, http
):
    seed(world)
    oidc(project)
    databricks_oauth.add_policy(
        world,
        ACCOUNT,
        STAGING_ID,
        "github-actions-staging",
        subject="repo:acme/old-name:environment:staging",
    )
    databricks_oauth.add_policy(
        world, ACCOUNT, PROD_ID, "someone-elses", subject="repo:acme/other:ref:refs/heads/main"
    )
    plan = cli("ci.secrets", "--dry-run")
    assert plan.code == 1
    assert "lets repo:acme/old-name:environment:staging act as it" in plan.err
    assert mutating(http()) == []


# ------------------------------------------------------------------------------------ oauth

SECRETS = f"{GH}/actions/secrets"


def oauth_fresh(sps) -> list[str]:
    return [
        f"create OAuth secret of SP {STAGING_SP} (lifetime 90 days)",
        "set secret STAGING_DATABRICKS_CLIENT_SECRET",
        f"set secret STAGING_DATABRICKS_CLIENT_ID ({sps['staging']['applicationId']})",
        f"create OAuth secret of SP {PROD_SP} (lifetime 90 days)",
        "set secret PROD_DATABRICKS_CLIENT_SECRET",
        f"set secret PROD_DATABRICKS_CLIENT_ID ({sps['prod']['applicationId']})",
        "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)",
    ]


OAUTH_REQUESTS = [
    f"POST {ACCT}/{STAGING_ID}/credentials/secrets",
    f"PUT {SECRETS}/STAGING_DATABRICKS_CLIENT_SECRET",
    f"PUT {SECRETS}/STAGING_DATABRICKS_CLIENT_ID",
    f"POST {ACCT}/{PROD_ID}/credentials/secrets",
    f"PUT {SECRETS}/PROD_DATABRICKS_CLIENT_SECRET",
    f"PUT {SECRETS}/PROD_DATABRICKS_CLIENT_ID",
    f"PUT {SECRETS}/WORKFLOW_TOKEN",
]


@pytest.fixture
def stored(monkeypatch):
    """What the code hands PyGithub for each secret, and each OAuth secret created, in either
    mode (a sealed value in a cassette is random)."""
    from databricks.sdk.service.oauth2 import ServicePrincipalSecretsAPI
    from github.Repository import Repository

    seen: dict = {"secrets": {}, "minted": []}
    create_secret, create_oauth = Repository.create_secret, ServicePrincipalSecretsAPI.create

    def spy_secret(self, name, value, *args, **kwargs):
        seen["secrets"][name] = value
        return create_secret(self, name, value, *args, **kwargs)

    def spy_oauth(self, *args, **kwargs):
        made = create_oauth(self, *args, **kwargs)
        seen["minted"].append(made.secret)
        return made

    monkeypatch.setattr(Repository, "create_secret", spy_secret)
    monkeypatch.setattr(ServicePrincipalSecretsAPI, "create", spy_oauth)
    return seen


def oauth_ledger(project) -> dict:
    import json

    path = project.root / ".mlops-setup" / "journal.json"
    return json.loads(path.read_text()).get("ci.secrets.oauth", {}) if path.exists() else {}


def no_leak(project, stored, *results) -> None:
    journal = project.root / ".mlops-setup" / "journal.json"
    texts = [r.out + r.err for r in results] + [journal.read_text() if journal.exists() else ""]
    for value in [*FAKE_VALUES, *[v for v in stored["minted"] if v], "<scrubbed>", "dose"]:
        for text in texts:
            assert value not in text


@pytest.mark.vcr
def test_oauth_stores_a_secret_per_sp_and_a_rerun_changes_nothing(
    cli, project, world, http, vcr, fake_api, stored
):
    sps = seed(world)
    project.write_config(ci={"auth_mode": "oauth"})
    plan = cli("ci.secrets", "--dry-run")
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert change_lines(plan.out) == change_lines(result.out) == oauth_fresh(sps)
    assert mutating(http()) == OAUTH_REQUESTS
    assert (
        bodies(vcr, fake_api, "POST", "/credentials/secrets")
        == [{"lifetime": f"{90 * 86400}s"}] * 2
    )
    # each GitHub secret holds what it should
    assert stored["secrets"]["STAGING_DATABRICKS_CLIENT_SECRET"] == stored["minted"][0]
    assert stored["secrets"]["PROD_DATABRICKS_CLIENT_SECRET"] == stored["minted"][1]
    assert stored["secrets"]["PROD_DATABRICKS_CLIENT_ID"] == sps["prod"]["applicationId"]
    recorded = oauth_ledger(project)
    assert recorded["in_flight"] == {} and set(recorded["stored"]) == {"staging", "prod"}
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "ok  secret PROD_DATABRICKS_CLIENT_SECRET holds OAuth secret " in again.out
    assert len(mutating(http())) == len(OAUTH_REQUESTS)
    no_leak(project, stored, plan, result, again)


@pytest.mark.vcr
def test_oauth_rotate_writes_the_new_secret_before_deleting_the_old(
    cli, project, world, http, stored
):
    seed(world)
    project.write_config(ci={"auth_mode": "oauth"})
    assert cli("ci.secrets").code == 0
    old = oauth_ledger(project)["stored"]
    before = len(mutating(http()))
    rotated = cli("ci.secrets", "--rotate")
    assert rotated.code == 0, rotated.err
    old_staging, old_prod = old["staging"]["token_id"], old["prod"]["token_id"]
    assert mutating(http())[before:] == [
        f"POST {ACCT}/{STAGING_ID}/credentials/secrets",
        f"PUT {SECRETS}/STAGING_DATABRICKS_CLIENT_SECRET",
        f"PUT {SECRETS}/STAGING_DATABRICKS_CLIENT_ID",
        f"DELETE {ACCT}/{STAGING_ID}/credentials/secrets/{old_staging}",
        f"POST {ACCT}/{PROD_ID}/credentials/secrets",
        f"PUT {SECRETS}/PROD_DATABRICKS_CLIENT_SECRET",
        f"PUT {SECRETS}/PROD_DATABRICKS_CLIENT_ID",
        f"DELETE {ACCT}/{PROD_ID}/credentials/secrets/{old_prod}",
        f"PUT {SECRETS}/WORKFLOW_TOKEN",
    ]
    assert f"delete OAuth secret {old_prod[:8]} of SP {PROD_SP} (replaced)" in change_lines(
        rotated.out
    )
    assert change_lines(cli("ci.secrets").out) == []
    no_leak(project, stored, rotated)


@pytest.mark.vcr
def test_oauth_failed_write_deletes_the_new_secret(cli, project, world, http, stored):
    seed(world)
    project.write_config(ci={"auth_mode": "oauth"})
    world.queue(
        "PUT",
        f"/repos/{REPO}/actions/secrets/PROD_DATABRICKS_CLIENT_SECRET",
        github_error(403, "Resource not accessible by personal access token"),
    )
    result = cli("ci.secrets")
    assert result.code == 1
    made = mutating(http())
    assert made[:5] == OAUTH_REQUESTS[:5]  # the fifth, the PROD secret's write, is refused
    assert made[5].startswith(f"DELETE {ACCT}/{PROD_ID}/credentials/secrets/")
    assert len(made) == 6
    deleted = made[5].rsplit("/", 1)[1]
    assert result.err.splitlines()[0] == (
        "error: could not store secret PROD_DATABRICKS_CLIENT_SECRET (GitHub API: 403: Resource "
        f"not accessible by personal access token); the new OAuth secret {deleted[:8]} was "
        "deleted, nothing is left behind"
    )
    assert oauth_ledger(project)["in_flight"] == {}
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out)[:2] == [
        f"create OAuth secret of SP {PROD_SP} (lifetime 90 days)",
        "set secret PROD_DATABRICKS_CLIENT_SECRET",
    ]
    no_leak(project, stored, result, again)


@pytest.mark.vcr
def test_oauth_crash_between_create_and_write_is_cleaned_up(
    cli, project, world, http, monkeypatch, stored
):
    seed(world)
    project.write_config(ci={"auth_mode": "oauth"})
    import github.Repository

    real = github.Repository.Repository.create_secret

    def crash(self, name, value, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(github.Repository.Repository, "create_secret", crash)
    crashed = cli("ci.secrets")
    assert crashed.code == 130
    assert mutating(http()) == [f"POST {ACCT}/{STAGING_ID}/credentials/secrets"]
    (left,) = oauth_ledger(project)["in_flight"]
    monkeypatch.setattr(github.Repository.Repository, "create_secret", real)
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert (
        f"delete OAuth secret {left[:8]} of SP {STAGING_SP} (left by an interrupted run)"
        in change_lines(again.out)
    )
    assert f"DELETE {ACCT}/{STAGING_ID}/credentials/secrets/{left}" in mutating(http())
    assert oauth_ledger(project)["in_flight"] == {}
    assert change_lines(cli("ci.secrets").out) == []


# ------------------------------------------------------------------------------- ci.auth

AUTH_BRANCH = "mlops-setup/ci-auth-oidc"
WORKFLOWS = ".github/workflows"
CD_PROD = f"{WORKFLOWS}/my-mlops-project-bundle-cd-prod.yml"
BUNDLE_CI = f"{WORKFLOWS}/my-mlops-project-bundle-ci.yml"
AUTHENTICATING = [
    f"{WORKFLOWS}/deploy-cicd.yml",
    CD_PROD,
    f"{WORKFLOWS}/my-mlops-project-bundle-cd-staging.yml",
    BUNDLE_CI,
    f"{WORKFLOWS}/my-mlops-project-run-tests.yml",
]


def on_main(project) -> None:
    """The project, workflows included, on GitHub's main (code.pr and ci.workflows done)."""
    project.git("init", "--quiet", "--initial-branch=main")
    project.git("add", "-A")
    project.git("commit", "--quiet", "-m", "the generated project")
    project.git("push", "--quiet", str(project.upstream), "main")


def upstream_file(project, path: str, ref: str = "main") -> str:
    return project.upstream_git("show", f"{ref}:{path}")


def auth_changes(mode: str, pr: str = "PR") -> list[str]:
    branch = f"mlops-setup/ci-auth-{mode}"
    return [
        f"create branch {branch} from main",
        *[f"commit {p} on {branch} ({mode} credentials)" for p in AUTHENTICATING],
        f"open PR {branch} -> main",
        f"merge {pr} {branch} -> main (merge, once its checks pass)",
    ]


@pytest.mark.vcr
def test_auth_oidc_rewrites_the_workflows_in_a_pr_merged_once_checks_pass(
    cli, project, world, http
):
    seed(world)
    on_main(project)
    oidc(project)
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    plan = cli("ci.auth", "--merge", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    # the dry run shows the diff of each workflow
    assert f"--- a/{CD_PROD}" in plan.out
    assert "      | +      DATABRICKS_AUTH_TYPE: github-oidc" in plan.out
    assert "      | -  DATABRICKS_TOKEN: ${{ secrets.PROD_WORKSPACE_TOKEN }}" in plan.out
    result = cli("ci.auth", "--merge")
    assert result.code == 0, result.err
    assert change_lines(plan.out) == change_lines(result.out) == auth_changes("oidc")
    made = mutating(http())
    assert made[-1] == f"PUT {GH}/pulls/1/merge"
    assert [m for m in made if "/contents/" in m] == [
        f"PUT {GH}/contents/{p}" for p in AUTHENTICATING
    ]
    assert "checks on PR #1" in result.out and "1 passed" in result.out
    prod = upstream_file(project, CD_PROD)
    assert "environment: prod" in prod
    assert "id-token: write" in prod
    assert "DATABRICKS_CLIENT_ID: ${{ vars.PROD_DATABRICKS_CLIENT_ID }}" in prod
    assert "DATABRICKS_HOST: https://prod.cloud.databricks.com" in prod
    assert "secrets." not in prod
    # comments kept; prod validation on pull requests runs only on the release branch
    assert prod.startswith("# Deploys the bundle in my_mlops_project/")
    ci = upstream_file(project, BUNDLE_CI)
    assert "if: github.ref == 'refs/heads/release'" in ci
    assert "WORKSPACE_TOKEN" not in ci
    lint = upstream_file(project, f"{WORKFLOWS}/lint-cicd-workflow-files.yml")
    assert lint == (project.root / WORKFLOWS / "lint-cicd-workflow-files.yml").read_text().strip()
    # a re-run of the finished step sends no mutating request
    again = cli("ci.auth", "--merge")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "ok  the workflows on main authenticate with oidc" in again.out
    assert len(mutating(http())) == len(made)


@pytest.mark.vcr
def test_auth_token_mode_on_a_generated_project_changes_nothing(cli, project, world, http):
    seed(world)
    on_main(project)
    result = cli("ci.auth", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert "ok  the workflows on main authenticate with token" in result.out
    assert mutating(http()) == []


def token_setup(cli, project, world) -> dict:
    """A finished token-mode setup (workspace tokens in STAGING_/PROD_WORKSPACE_TOKEN), then
    ci.auth_mode switched to oidc and ci.secrets run for it: both modes' credentials exist."""
    sps = seed(world)
    on_main(project)
    first = cli("ci.secrets")
    assert first.code == 0, first.err
    oidc(project)
    second = cli("ci.secrets")
    assert second.code == 0, second.err
    return sps


def retire_token_changes() -> list[str]:
    return [
        f"revoke token {{}} of SP {STAGING_SP} (token mode retired)",
        "delete secret STAGING_WORKSPACE_TOKEN (token credential no workflow reads)",
        f"revoke token {{}} of SP {PROD_SP} (token mode retired)",
        "delete secret PROD_WORKSPACE_TOKEN (token credential no workflow reads)",
    ]


def without_ids(lines: list[str]) -> list[str]:
    import re

    return [re.sub(r"token [0-9a-f]{8} of", "token {} of", line) for line in lines]


def secret_names(project, world) -> set:
    return set(world.gh.get("secrets", {}).get(REPO, {}))


@pytest.mark.vcr
def test_auth_migration_token_to_oidc_retires_the_tokens_only_after_the_merge(
    cli, project, world, http
):
    token_setup(cli, project, world)
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    before = len(mutating(http()))
    result = cli("ci.auth", "--merge")
    assert result.code == 0, result.err
    assert without_ids(change_lines(result.out)) == [
        *auth_changes("oidc"),
        *retire_token_changes(),
    ]
    made = mutating(http())[before:]
    merge = made.index(f"PUT {GH}/pulls/1/merge")
    deletes = [i for i, m in enumerate(made) if m.startswith("DELETE")]
    assert len(deletes) == 4 and min(deletes) > merge  # nothing retired before the merge
    assert made[-1] == f"DELETE {GH}/actions/secrets/PROD_WORKSPACE_TOKEN"
    # a re-run: nothing to change, nothing sent
    again = cli("ci.auth", "--merge")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert len(mutating(http())) == before + len(made)


@pytest.mark.vcr
def test_auth_failing_checks_merge_nothing_and_retire_nothing(cli, project, world, http):
    token_setup(cli, project, world)
    github_pulls.set_checks(
        world, AUTH_BRANCH, [("unit_tests", "success"), ("integration_test", "failure")]
    )
    before = len(mutating(http()))
    result = cli("ci.auth", "--merge")
    assert result.code == 1
    made = mutating(http())[before:]
    assert not [m for m in made if m.startswith("DELETE") or m.endswith("/merge")]
    assert "checks on PR #1" in result.err and "1 failed" in result.err
    assert "failed: integration_test (failure)" in result.err
    assert "nothing was merged or retired" in result.err
    assert f"https://github.com/{REPO}/pull/1" in result.err
    # main still reads the tokens, which are still there
    assert "PROD_WORKSPACE_TOKEN" in upstream_file(project, CD_PROD)


@pytest.mark.vcr
def test_auth_stopped_between_merge_and_revoke_finishes_the_revoke_next_run(
    cli, project, world, http
):
    token_setup(cli, project, world)
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    world.queue(
        "DELETE",
        r"/api/2.0/token-management/tokens/.+",
        Reply(403, {"error_code": "PERMISSION_DENIED", "message": "not an admin"}),
    )
    before = len(mutating(http()))
    stopped = cli("ci.auth", "--merge")
    assert stopped.code == 1
    assert f"PUT {GH}/pulls/1/merge" in mutating(http())[before:]
    assert "oidc" in upstream_file(project, CD_PROD)
    resumed = cli("ci.auth", "--merge")
    assert resumed.code == 0, resumed.err
    assert "ok  the workflows on main authenticate with oidc" in resumed.out
    assert without_ids(change_lines(resumed.out)) == retire_token_changes()


def oidc_setup(cli, project, world) -> dict:
    """A finished oidc setup: federation policies, environments, variables, workflows on main."""
    sps = seed(world)
    on_main(project)
    oidc(project)
    assert cli("ci.secrets").code == 0
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    done = cli("ci.auth", "--merge")
    assert done.code == 0, done.err
    return sps


@pytest.mark.vcr
def test_auth_back_from_oidc_to_token_retires_the_policies_after_the_merge(
    cli, project, world, http
):
    oidc_setup(cli, project, world)
    project.write_config(ci={"auth_mode": "token"})
    minted = cli("ci.secrets")
    assert minted.code == 0, minted.err
    github_pulls.set_checks(world, "mlops-setup/ci-auth-token", [("integration_test", "success")])
    before = len(mutating(http()))
    result = cli("ci.auth", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        *auth_changes("token", pr="PR"),
        f"delete federation policy github-actions-staging of SP {STAGING_SP} "
        "(no workflow authenticates staging with oidc any more)",
        "delete variable STAGING_DATABRICKS_CLIENT_ID (no workflow reads it)",
        f"delete federation policy github-actions-prod of SP {PROD_SP} "
        "(no workflow authenticates prod with oidc any more)",
        "delete variable PROD_DATABRICKS_CLIENT_ID (no workflow reads it)",
    ]
    made = mutating(http())[before:]
    assert min(i for i, m in enumerate(made) if m.startswith("DELETE")) > made.index(
        f"PUT {GH}/pulls/2/merge"
    )
    prod = upstream_file(project, CD_PROD)
    assert "DATABRICKS_TOKEN: ${{ secrets.PROD_WORKSPACE_TOKEN }}" in prod
    assert "environment:" not in prod and "id-token" not in prod
    assert "if: github.ref" not in upstream_file(project, BUNDLE_CI)
    again = cli("ci.auth", "--merge")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert len(mutating(http())) == before + len(made)


@pytest.mark.vcr
def test_auth_flags_a_policy_naming_another_repo_and_a_secret_nobody_stored(
    cli, project, world, http
):
    sps = oidc_setup(cli, project, world)
    databricks_oauth.add_policy(
        world, ACCOUNT, STAGING_ID, "leftover", subject="repo:acme/old-name:environment:staging"
    )
    project.commit_upstream(
        f"{WORKFLOWS}/extra.yml",
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    env:\n"
        "      T: ${{ secrets.STAGING_WORKSPACE_TOKEN }}\n    steps:\n      - run: echo\n",
        "a workflow that reads a token nobody stored",
    )
    (project.root / WORKFLOWS / "extra.yml").write_text("on: push\n")
    result = cli("ci.auth", "--merge", "--dry-run")
    assert result.code == 0, result.err
    assert (
        ".github/workflows/extra.yml reads secret STAGING_WORKSPACE_TOKEN, which the repo "
        "does not have"
    ) in result.out
    assert (
        f"federation policy leftover of SP {STAGING_SP} lets "
        "repo:acme/old-name:environment:staging act as it, not this repo"
    ) in result.out
    assert sps


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_workflow_rewrite_round_trips_in_every_mode_and_keeps_the_rest(cloud):
    """Every generated workflow: token form left byte for byte; each mode's rewrite is stable
    (a second rewrite changes nothing); any mode converts to any other; nothing but the auth
    keys changes (comments, steps, triggers kept)."""
    from mlops_setup.example import project_files
    from mlops_setup.workflow_auth import Target, convert, read_auth

    hosts = {"staging": "https://staging.example", "prod": "https://prod.example"}
    files = project_files("churn-model", cloud=cloud, release_branch="rel")
    texts = {
        p: b.decode()
        for p, b in files.items()
        if p.startswith(".github/workflows/") and p.endswith(".yml")
    }
    assert len(texts) >= 6
    for path, text in texts.items():
        token = Target("token", cloud, hosts, "rel")
        assert convert(text, token)[0] == text, path
        for mode in ("oauth", "oidc"):
            target = Target(mode, cloud, hosts, "rel")
            new, _ = convert(text, target)
            assert convert(new, target)[0] == new, (path, mode)
            for other in ("token", "oauth", "oidc"):
                there, _ = convert(new, Target(other, cloud, hosts, "rel"))
                assert {a.mode for a in read_auth(there) if a.runs_cli and a.env} <= {other}
            comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
            assert [line for line in new.splitlines() if line.lstrip().startswith("#")] == comments
            for auth in read_auth(new):
                if auth.runs_cli and auth.env:
                    assert auth.mode == mode, (path, auth)
            if mode == "oidc":
                assert "secrets.STAGING_" not in new and "secrets.PROD_" not in new
                assert "AZURE_SP" not in new


@pytest.mark.vcr
def test_auth_keeps_the_tokens_while_the_release_branch_still_reads_them(cli, project, world, http):
    """Workflows run from the release branch's copy (the prod CD on every push, any workflow
    dispatched there): the old credentials stay until the release branch has the new
    workflows, then the next run retires them."""
    token_setup(cli, project, world)
    project.upstream_git("branch", "release", "main")  # cut before the switch
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    result = cli("ci.auth", "--merge")
    assert result.code == 0, result.err
    assert change_lines(result.out) == auth_changes("oidc")  # merged, nothing retired
    said = result.out.replace("\n      ", " ")
    for env in ("staging", "prod"):
        assert f"{env}: a workflow (on release, or a job left as it was) still reads token" in said
    project.upstream_git("branch", "--force", "release", "main")  # `invoke release --update`
    later = cli("ci.auth", "--merge")
    assert later.code == 0, later.err
    assert without_ids(change_lines(later.out)) == retire_token_changes()


def _hand_written_workflow(eol: str = "\n") -> str:
    return eol.join(
        [
            "# Deploys to staging (edited by hand)",
            "name: CD staging",
            "on:",
            "  push:",
            "    branches: [main]",
            "env:",
            "  DATABRICKS_TOKEN: ${{ secrets.STAGING_WORKSPACE_TOKEN }}",
            "jobs:",
            "  staging:",
            "    runs-on: ubuntu-latest  # pinned later",
            "    steps:",
            "      - uses: actions/checkout@v4",
            "      - run: databricks bundle deploy -t staging",
            "",
        ]
    )


def test_workflow_with_crlf_line_endings_keeps_them_in_every_mode():
    """A workflow checked in with CRLF line endings (edited on Windows): token mode leaves it
    as it is; the oidc rewrite must keep CRLF on every line (it wrote the comments' lines with
    CRLF and every other line with LF: a file of mixed line endings, each line in the diff)."""
    from mlops_setup.workflow_auth import Target, convert

    hosts = {"staging": "https://staging.example", "prod": "https://prod.example"}
    text = _hand_written_workflow("\r\n")
    assert convert(text, Target("token", "aws", hosts, "release"))[0] == text
    new, _ = convert(text, Target("oidc", "aws", hosts, "release"))
    assert "DATABRICKS_AUTH_TYPE: github-oidc" in new
    assert new.count("\n") == new.count("\r\n"), repr(new)
    assert (
        new.replace("\r\n", "\n")
        == convert(_hand_written_workflow(), Target("oidc", "aws", hosts, "release"))[0]
    )


def test_oidc_rewrite_keeps_a_four_space_indentation():
    """A workflow indented 4/4/0 keeps its indentation: only the lines the rewrite adds or
    changes differ (ruamel.yaml writes one style per file: the file's own, guessed)."""
    from mlops_setup.workflow_auth import Target, convert

    hosts = {"staging": "https://staging.example", "prod": "https://prod.example"}
    text = "\n".join(
        [
            "name: CD staging",
            "on:",
            "    push:",
            "env:",
            "    DATABRICKS_TOKEN: ${{ secrets.STAGING_WORKSPACE_TOKEN }}",
            "jobs:",
            "    staging:",
            "        runs-on: ubuntu-latest",
            "        steps:",
            "        -   run: databricks bundle deploy -t staging",
            "",
        ]
    )
    new, _ = convert(text, Target("oidc", "aws", hosts, "release"))
    assert "\n        runs-on: ubuntu-latest\n" in new, new
    assert "\n        -   run: databricks bundle deploy -t staging\n" in new, new


@pytest.mark.vcr
def test_auth_pr_whose_checks_never_start_merges_and_retires_nothing(cli, project, world, http):
    """No workflow ever starts on the PR (Actions disabled, say): after the wait for a first
    check, the step stops, nothing merged or retired, and says how to get a run; a re-run
    once checks ran and passed merges and retires without opening a second PR."""
    token_setup(cli, project, world)
    before = len(mutating(http()))
    stopped = cli("ci.auth", "--merge")
    assert stopped.code == 1
    made = mutating(http())[before:]
    assert not [m for m in made if m.startswith("DELETE") or m.endswith("/merge")], made
    said = stopped.err.replace("\n      ", " ")
    assert "no check ran on PR #1" in said and "nothing was merged or retired" in said
    assert "PROD_WORKSPACE_TOKEN" in upstream_file(project, CD_PROD)
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])
    resumed = cli("ci.auth", "--merge")
    assert resumed.code == 0, resumed.err
    later = mutating(http())[before + len(made) :]
    assert not [m for m in later if m.endswith("/pulls")]  # the same PR, not a second one
    assert f"PUT {GH}/pulls/1/merge" in later
    assert without_ids(change_lines(resumed.out))[-4:] == retire_token_changes()


@pytest.mark.vcr
def test_auth_checks_of_no_authenticating_job_are_no_proof(cli, project, world, http):
    """Only a job that reads no Databricks credential ran on the PR (the workflow-file lint):
    nothing has shown that the oidc credentials work, so the old tokens must stay."""
    token_setup(cli, project, world)
    github_pulls.set_checks(world, AUTH_BRANCH, [("actionlint", "success")])
    before = len(mutating(http()))
    result = cli("ci.auth", "--merge")
    made = mutating(http())[before:]
    assert not [m for m in made if m.startswith("DELETE")], (result.out, made)
    assert not [m for m in made if m.endswith("/merge")], made
    assert result.code == 1
    assert "(actionlint) include no job that signs in to Databricks (" in result.err
    assert "integration_test" in result.err


def test_oidc_rewrite_refuses_a_job_in_a_github_environment_of_its_own():
    """A job the user put in a GitHub environment of their own (``production-approval``: its
    required reviewers gate the deploy). oidc needs the job in ``prod`` (the federation
    policy's subject), so the rewrite must refuse and name the job, as it does for a job's own
    ``if:``; it replaced the environment silently, and the way back to token then dropped the
    ``environment:`` line altogether: the approval gate was gone."""
    from mlops_setup.workflow_auth import Target, WorkflowError, convert

    hosts = {"staging": "https://staging.example", "prod": "https://prod.example"}
    text = "\n".join(
        [
            "name: deploy",
            "on:",
            "  push:",
            "jobs:",
            "  deploy:",
            "    runs-on: ubuntu-latest",
            "    environment: production-approval",
            "    env:",
            "      DATABRICKS_TOKEN: ${{ secrets.PROD_WORKSPACE_TOKEN }}",
            "    steps:",
            "      - run: databricks bundle deploy -t prod",
            "",
        ]
    )
    with pytest.raises(WorkflowError, match=r"job deploy .*production-approval"):
        convert(text, Target("oidc", "aws", hosts, "release"))
    mapping = text.replace(
        "environment: production-approval",
        "environment:\n      name: prod\n      url: https://example.com",
    )
    new, _ = convert(mapping, Target("oidc", "aws", hosts, "release"))
    assert "      name: prod\n      url: https://example.com\n" in new, new  # kept as it was


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_read_parse_says_what_the_rewrite_parse_says(cloud):
    """Workflows are read with libyaml (``_parsed``) and rewritten with ruamel.yaml (``_load``):
    both read every generated workflow, in every mode, as the same data (an ``on:`` key stays
    the string "on"), and both refuse a key given twice."""
    import json

    from mlops_setup.example import project_files
    from mlops_setup.workflow_auth import Target, WorkflowError, _load, _parsed, convert

    hosts = {"staging": "https://staging.example", "prod": "https://prod.example"}
    files = project_files("churn-model", cloud=cloud, release_branch="rel")
    texts = [
        b.decode()
        for p, b in files.items()
        if p.startswith(".github/workflows/") and p.endswith(".yml")
    ]
    for text in list(texts):
        texts += [convert(text, Target(m, cloud, hosts, "rel"))[0] for m in ("oauth", "oidc")]
    for text in texts:
        read = _parsed(text)
        assert "on" in read and True not in read
        assert json.dumps(read, sort_keys=True, default=str) == json.dumps(
            _load(text), sort_keys=True, default=str
        )
    twice = "on: push\njobs:\n  a:\n    runs-on: x\n  a:\n    runs-on: y\n"
    for parse in (_parsed, _load):
        with pytest.raises(WorkflowError, match="not valid YAML"):
            parse(twice)
    merged = "base: &b {x: 1}\njobs: {a: {<<: *b, x: 2}}\non: yes\n"  # a merge key overridden
    assert _parsed(merged)["jobs"]["a"] == {"x": 2} and _parsed(merged)["on"] == "yes"
