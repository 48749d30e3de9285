"""ci.secrets: SP tokens and the workflow PAT as Actions secrets; nothing lost, nothing leaked."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import FAKE_VALUES, FAKE_WORKFLOW_PAT, change_lines, exchanges_of, mutating
from tests.fakeapi import databricks_iam, databricks_tokens, github_error, github_repos

REPO = "acme/my-mlops-project"
GH = f"https://api.github.com/repos/{REPO}/actions/secrets"
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
OBO = "/api/2.0/token-management/on-behalf-of/tokens"
TOKENS = "/api/2.0/token-management/tokens"
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"
STAGING_ID, PROD_ID = "7001000000000001", "7001000000000002"  # ids the fake gives them

MINT_STAGING = f"mint token for SP {STAGING_SP} (lifetime 90 days)"
MINT_PROD = f"mint token for SP {PROD_SP} (lifetime 90 days)"
SET_STAGING = "set secret STAGING_WORKSPACE_TOKEN"
SET_PROD = "set secret PROD_WORKSPACE_TOKEN"
SET_PAT = "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)"
FRESH = [MINT_STAGING, SET_STAGING, MINT_PROD, SET_PROD, SET_PAT]
FRESH_REQUESTS = [
    f"POST {STAGING}{OBO}",
    f"PUT {GH}/STAGING_WORKSPACE_TOKEN",
    f"POST {PROD}{OBO}",
    f"PUT {GH}/PROD_WORKSPACE_TOKEN",
    f"PUT {GH}/WORKFLOW_TOKEN",
]


def seed(world) -> None:
    """A repo, and both SPs in the account, each assigned to its workspace."""
    github_repos.add_repo(world, REPO)
    databricks_iam.add_service_principal(world, STAGING_SP, assigned_to=("staging",))
    databricks_iam.add_service_principal(world, PROD_SP, assigned_to=("prod",))


@pytest.fixture
def written(monkeypatch):
    """What the code hands PyGithub for each secret, and what each mint returned, in either
    mode (the sealed value in a cassette is random, so only this shows what was stored)."""
    from databricks.sdk.service.settings import TokenManagementAPI
    from github.Repository import Repository

    seen: dict = {"secrets": {}, "minted": {}}
    create_secret, create_obo = Repository.create_secret, TokenManagementAPI.create_obo_token

    def spy_secret(self, name, value, *args, **kwargs):
        seen["secrets"][name] = value
        return create_secret(self, name, value, *args, **kwargs)

    def spy_obo(self, *args, **kwargs):
        made = create_obo(self, *args, **kwargs)
        seen["minted"][kwargs["comment"].rsplit("(", 1)[1].rstrip(")")] = made.token_value
        return made

    monkeypatch.setattr(Repository, "create_secret", spy_secret)
    monkeypatch.setattr(TokenManagementAPI, "create_obo_token", spy_obo)
    return seen


def journal_text(project) -> str:
    path = project.root / ".mlops-setup" / "journal.json"
    return path.read_text() if path.exists() else ""


def ledger(project) -> dict:
    text = journal_text(project)
    return json.loads(text).get("ci.secrets", {}) if text else {}


def assert_nothing_leaked(world, project, *results) -> None:
    """No credential of the test and no token value the fake minted (in replay the code gets the
    recorder's placeholder as the value) appears in the output or the journal."""
    values = [*FAKE_VALUES, *databricks_tokens.minted_values(world), "<scrubbed>", "dapi"]
    texts = [r.out for r in results] + [r.err for r in results] + [journal_text(project)]
    for value in values:
        for text in texts:
            assert value not in text


def sent_bodies(vcr, fake_api, suffix: str) -> list[dict]:
    """JSON bodies of the requests to URIs ending in ``suffix``, in either mode."""
    return [
        e.body
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.uri.endswith(suffix) and e.body
    ]


@pytest.mark.vcr
def test_fresh_repo_mints_and_stores_all_three(cli, project, world, http, vcr, fake_api, written):
    seed(world)
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    # each secret holds what it should: the PAT, and each environment's own new token
    assert written["secrets"]["WORKFLOW_TOKEN"] == FAKE_WORKFLOW_PAT
    assert written["secrets"]["STAGING_WORKSPACE_TOKEN"] == written["minted"]["staging"]
    assert written["secrets"]["PROD_WORKSPACE_TOKEN"] == written["minted"]["prod"]
    assert FAKE_WORKFLOW_PAT not in written["minted"].values()
    assert change_lines(result.out) == FRESH
    assert result.out.splitlines()[-1] == "ci.secrets: 5 added, 0 changed, 0 destroyed"
    assert mutating(http()) == FRESH_REQUESTS
    # the tokens were asked for with our comment and lifetime
    sent = sent_bodies(vcr, fake_api, OBO)
    assert [(b["comment"], b["lifetime_seconds"]) for b in sent] == [
        (f"mlops-setup CI token for {REPO} (staging)", 90 * 86400),
        (f"mlops-setup CI token for {REPO} (prod)", 90 * 86400),
    ]
    recorded = ledger(project)
    assert recorded["in_flight"] == {}
    assert set(recorded["stored"]) == {"staging", "prod"}
    assert_nothing_leaked(world, project, result)
    if fake_api is not None:  # the fake opened each sealed secret: the live token we minted
        stored = world.gh["secrets"][REPO]
        assert (
            stored["STAGING_WORKSPACE_TOKEN"]["token_id"]
            == recorded["stored"]["staging"]["token_id"]
        )
        assert stored["PROD_WORKSPACE_TOKEN"]["token_id"] == recorded["stored"]["prod"]["token_id"]


@pytest.mark.vcr
def test_finished_setup_rerun_sends_no_mutating_request(cli, project, world, http):
    seed(world)
    assert cli("ci.secrets").code == 0
    sent = len(mutating(http()))
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    lines = again.out.splitlines()
    assert lines[0] == "== ci.secrets: the GitHub Actions secrets CI/CD reads =="
    assert lines[1].startswith("  ok  secret STAGING_WORKSPACE_TOKEN holds token ")
    assert lines[1].endswith(f" of SP {STAGING_SP} (expires 2026-05-31)")
    assert lines[2].startswith("  ok  secret PROD_WORKSPACE_TOKEN holds token ")
    assert (
        lines[3] == "  ok  secret WORKFLOW_TOKEN exists (--rotate rewrites it from $WORKFLOW_TOKEN)"
    )
    assert lines[-1] == "ci.secrets: no changes"
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    seed(world)
    plan = cli("ci.secrets", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "ci.secrets" not in journal_text(project)
    applied = cli("ci.secrets")
    assert change_lines(plan.out) == change_lines(applied.out) == FRESH
    assert "ci.secrets: 5 to add, 0 to change, 0 to destroy" in plan.out
    assert_nothing_leaked(world, project, plan, applied)


@pytest.mark.vcr
def test_rotate_writes_new_tokens_before_revoking_the_old(cli, project, world, http):
    seed(world)
    assert cli("ci.secrets").code == 0
    old = ledger(project)["stored"]
    before = len(mutating(http()))
    preview = cli("ci.secrets", "--rotate", "--dry-run")
    assert len(mutating(http())) == before
    rotated = cli("ci.secrets", "--rotate")
    assert rotated.code == 0, rotated.err
    assert change_lines(preview.out) == change_lines(rotated.out)  # revoke lines included
    revoke_staging = f"revoke token {old['staging']['token_id'][:8]} of SP {STAGING_SP} (replaced)"
    revoke_prod = f"revoke token {old['prod']['token_id'][:8]} of SP {PROD_SP} (replaced)"
    assert change_lines(rotated.out) == [
        MINT_STAGING,
        SET_STAGING,
        revoke_staging,
        MINT_PROD,
        SET_PROD,
        revoke_prod,
        SET_PAT,
    ]
    # each old token is revoked only after its secret holds the new one
    assert mutating(http())[before:] == [
        f"POST {STAGING}{OBO}",
        f"PUT {GH}/STAGING_WORKSPACE_TOKEN",
        f"DELETE {STAGING}{TOKENS}/{old['staging']['token_id']}",
        f"POST {PROD}{OBO}",
        f"PUT {GH}/PROD_WORKSPACE_TOKEN",
        f"DELETE {PROD}{TOKENS}/{old['prod']['token_id']}",
        f"PUT {GH}/WORKFLOW_TOKEN",
    ]
    new = ledger(project)["stored"]
    assert new["staging"]["token_id"] != old["staging"]["token_id"]
    assert ledger(project)["in_flight"] == {}
    # afterwards exactly one live token of ours per environment: a re-run keeps them
    again = cli("ci.secrets")
    assert change_lines(again.out) == []
    assert_nothing_leaked(world, project, rotated, again)


@pytest.mark.vcr
def test_failed_secret_write_revokes_the_new_token(cli, project, world, http):
    seed(world)
    world.queue(
        "PUT",
        f"/repos/{REPO}/actions/secrets/PROD_WORKSPACE_TOKEN",
        github_error(403, "Resource not accessible by personal access token"),
    )
    result = cli("ci.secrets")
    assert result.code == 1
    made = mutating(http())
    assert made[:4] == FRESH_REQUESTS[:4]
    assert len(made) == 5 and made[4].startswith(f"DELETE {PROD}{TOKENS}/")
    revoked = made[4].rsplit("/", 1)[1]
    assert result.err.splitlines() == [
        "error: could not store secret PROD_WORKSPACE_TOKEN (GitHub API: 403: Resource not "
        f"accessible by personal access token); the new token {revoked[:8]} was revoked, "
        "nothing is left behind",
        "  fix: check that your GitHub token may write Actions secrets of the repo (classic: "
        "`repo` scope; fine-grained: Secrets read and write), then run again (3 change(s) "
        "before this one were applied; a re-run resumes here)",
        "  see: runbook/ci.md#secrets",
    ]
    assert ledger(project)["in_flight"] == {}
    assert ledger(project)["stored"]["prod"] == {"unknown": True}
    # the next run mints prod again and leaves staging alone
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == [MINT_PROD, SET_PROD, SET_PAT]
    assert_nothing_leaked(world, project, result, again)


@pytest.mark.vcr
def test_crash_between_mint_and_write_is_cleaned_up_next_run(
    cli, project, world, http, monkeypatch
):
    seed(world)
    import github.Repository

    real = github.Repository.Repository.create_secret

    def crash(self, name, value, *args, **kwargs):
        raise KeyboardInterrupt  # the process dies between the mint and the write

    monkeypatch.setattr(github.Repository.Repository, "create_secret", crash)
    crashed = cli("ci.secrets")
    assert crashed.code == 130  # Ctrl-C, or any KeyboardInterrupt
    assert crashed.err.splitlines()[-1] == (
        f"interrupted during ci.secrets: 1 change applied in ci.secrets (the last: ci.secrets: "
        f"minted token for SP {STAGING_SP} (lifetime 90 days)); run the same command again: "
        "it resumes there"
    )
    assert mutating(http()) == [f"POST {STAGING}{OBO}"]
    (left,) = ledger(project)["in_flight"]  # the journal knows the token id, not its value
    assert ledger(project)["in_flight"] == {left: "staging"}
    monkeypatch.setattr(github.Repository.Repository, "create_secret", real)
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == [
        MINT_STAGING,
        SET_STAGING,
        f"revoke token {left[:8]} of SP {STAGING_SP} (left by an interrupted run)",
        MINT_PROD,
        SET_PROD,
        SET_PAT,
    ]
    assert f"DELETE {STAGING}{TOKENS}/{left}" in mutating(http())
    assert ledger(project)["in_flight"] == {}
    # at most one live token of ours per environment: a re-run finds nothing to do
    assert change_lines(cli("ci.secrets").out) == []
    assert_nothing_leaked(world, project, crashed, again)


@pytest.mark.vcr
def test_missing_workflow_token_stops_before_minting(cli, project, world, http, monkeypatch):
    seed(world)
    monkeypatch.delenv("WORKFLOW_TOKEN")
    result = cli("ci.secrets")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: environment variable WORKFLOW_TOKEN is empty, so the WORKFLOW_TOKEN secret "
        "cannot be written; nothing was minted",
        "  fix: create a GitHub personal access token with the `workflow` scope (classic: `repo` "
        "and `workflow`; fine-grained: Contents and Workflows read and write on "
        f"{REPO}), export it as WORKFLOW_TOKEN, then run again",
        "  see: runbook/ci.md#secrets",
    ]
    assert mutating(http()) == []
    assert not any("databricks.com" in uri for _, uri in http())


@pytest.mark.vcr
def test_token_close_to_expiry_is_replaced(cli, project, world, http):
    seed(world)
    comment = f"mlops-setup CI token for {REPO} (staging)"
    staging_app = databricks_iam.application_id(STAGING_SP)
    prod_app = databricks_iam.application_id(PROD_SP)
    # set up by another machine 80 days ago (no journal here): staging expires in 10 days
    databricks_tokens.add_token(
        world,
        "staging.cloud.databricks.com",
        sp_id=int(STAGING_ID),
        application_id=staging_app,
        comment=comment,
        created_days_ago=80,
    )
    databricks_tokens.add_token(
        world,
        "prod.cloud.databricks.com",
        sp_id=int(PROD_ID),
        application_id=prod_app,
        comment=comment.replace("staging", "prod"),
        created_days_ago=80,
        lifetime_days=365,
    )
    from tests.fakeapi import github_actions

    for name in ("STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN", "WORKFLOW_TOKEN"):
        github_actions.add_secret(world, REPO, name, updated_at="2025-12-12T09:00:05Z")
    preview = cli("ci.secrets", "--dry-run")
    assert mutating(http()) == []
    result = cli("ci.secrets")
    assert result.code == 0, result.err

    def warnings(output: str) -> list[str]:
        return [line for line in output.splitlines() if line.lstrip().startswith("!")]

    assert change_lines(preview.out) == change_lines(result.out)
    assert warnings(preview.out) == warnings(result.out) != []
    lines = change_lines(result.out)
    assert lines[:2] == [MINT_STAGING, SET_STAGING]
    assert lines[2].startswith("revoke token ") and lines[2].endswith(
        f" of SP {STAGING_SP} (replaced)"
    )
    assert len(lines) == 3
    assert "expires 2026-03-12, within 14 days: replacing it" in result.out
    assert "ok  secret PROD_WORKSPACE_TOKEN holds token " in result.out
    assert "(expires 2026-12-12)" in result.out


def test_cassettes_hold_no_token_value():
    here = os.path.join(os.path.dirname(__file__), "cassettes", "test_ci_secrets")
    for name in sorted(os.listdir(here)):
        with open(os.path.join(here, name), encoding="utf-8") as fh:
            text = fh.read()
        assert "dapi" not in text, name
        assert not any(v in text for v in FAKE_VALUES), name
        assert '"token_value":"<scrubbed>"' in text or "on-behalf-of" not in text, name


@pytest.mark.vcr
def test_secret_set_by_someone_else_is_left_alone_until_rotate(cli, project, world, http):
    """A workspace secret that holds no token of ours (set by hand, or by another tool) is not
    ours to overwrite unasked; --rotate replaces it."""
    seed(world)
    from tests.fakeapi import github_actions

    for name in ("STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN", "WORKFLOW_TOKEN"):
        github_actions.add_secret(world, REPO, name)
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert mutating(http()) == []
    assert "secret STAGING_WORKSPACE_TOKEN exists but holds no live token of ours: left" in (
        result.out
    )
    assert "`invoke ci.secrets --rotate` replaces it" in result.out
    rotated = cli("ci.secrets", "--rotate")
    assert rotated.code == 0, rotated.err
    assert change_lines(rotated.out) == FRESH
    assert_nothing_leaked(world, project, result, rotated)
