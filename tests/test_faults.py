"""The fault matrix: every fault we inject, the test that injects it, and what must happen.

``FAULT_MATRIX`` (at the end) is the one table: fault -> (test, expected outcome). Faults that a
section's own tests already cover completely (the outcome, and that nothing was lost or leaked)
point there; the others are injected here. ``test_fault_matrix_is_complete`` keeps the table
honest: every test it names exists and either replays a composed cassette (``vcr``) or runs git
for real, and every cassette is there.

Each fault test asserts four things: the exit code and message; that every wait stayed inside
its bound (the sum of the sleeps ``no_sleep`` recorded; replay never sleeps); that nothing
leaked (no credential of ``tests/conftest.py`` in the output); and that nothing was lost or
doubled (no duplicate resource, no orphaned token, no overwritten commit), usually by a re-run
that resumes and then finds nothing to do.

Faults are injected into the fake API while composing (``pytest --compose``): a queued reply
(``world.queue``), fake state, or, where a request must be carried out and its answer lost, a
handler wrapped by :func:`lose_answer`. The composed cassette then replays the same exchange.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from tests import fakeapi
from tests import github_samples as samples
from tests.conftest import FAKE_VALUES, change_lines, mutating
from tests.fakeapi import (
    Reply,
    databricks_error,
    databricks_iam,
    github_actions,
    github_error,
    graph_error,
)
from tests.fakeapi import databricks_uc as uc_fake
from tests.test_ci_permissions import ALL_FIVE_LIST, FRESH_CHANGES, exchanges, with_sps
from tests.test_ci_workflows import code_on_main, dispatches

TESTS = Path(__file__).parent
CASSETTES = TESTS / "cassettes"

REPO = "acme/my-mlops-project"
API = f"https://api.github.com/repos/{REPO}"
WEB = f"https://github.com/{REPO}"
ACCOUNT_ID = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
ACCOUNT = f"https://accounts.cloud.databricks.com/api/2.0/accounts/{ACCOUNT_ID}"
ACCOUNT_SPS = f"/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals"
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
UC = "/api/2.1/unity-catalog"
STAGING_ID, PROD_ID = 1234567890123456, 6543210987654321  # workspace ids
FIRST_ID, SECOND_ID = "7001000000000001", "7001000000000002"  # SP ids the fake gives
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"
STAGING_APP = databricks_iam.application_id(STAGING_SP)
RUN = github_actions.FIRST_RUN_ID
RUN_URL = f"{WEB}/actions/runs/{RUN}"
SDK_RETRY_BUDGET = 300  # Config(retry_timeout_seconds=...) in mlops_setup/clients.py

SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
    "try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


# ------------------------------------------------------------------------------------ helpers


def progress(output: str) -> list[str]:
    return [line.strip()[3:].strip() for line in output.splitlines() if line.strip()[:2] == ".."]


def assert_nothing_leaked(*results) -> None:
    for result in results:
        for value in FAKE_VALUES:
            assert value not in result.out + result.err
        assert "Traceback" not in result.err


def no_jitter(monkeypatch) -> None:
    """The SDK sleeps ``Retry-After + random()``; without the random part the recorded sleep
    is exactly what the server asked for."""
    monkeypatch.setattr("databricks.sdk.retries.random", lambda: 0.0)


def lose_answer(monkeypatch, method: str, path: str, reply: Reply) -> None:
    """The next ``method`` request to ``path`` is carried out by the fake (its state changes),
    but its answer is lost on the way back: the client gets ``reply`` (a gateway timeout, say).
    Only matters while composing; the cassette then holds ``reply``."""
    fakeapi._load_handlers()
    pending = [reply]

    def wrap(handler):
        def answer_lost(world, req):
            answer = handler(world, req)
            return pending.pop() if pending else answer

        return answer_lost

    routes = [
        (m, api, pattern, wrap(handler) if m == method and pattern.match(path) else handler)
        for m, api, pattern, handler in fakeapi.ROUTES
    ]
    monkeypatch.setattr(fakeapi, "ROUTES", routes)


def empty_scim_list() -> Reply:
    return Reply(
        200,
        {
            "totalResults": 0,
            "itemsPerPage": 0,
            "startIndex": 1,
            "schemas": [databricks_iam.LIST_SCHEMA],
        },
    )


def sps_named(world, name: str) -> list[dict]:
    return [sp for sp in world.db.get("service_principals", []) if sp["displayName"] == name]


# ---------------------------------------------------------------------------- rate limits


@pytest.mark.vcr
def test_github_secondary_rate_limit_without_retry_after(cli, world, http, no_sleep):
    """403 "secondary rate limit" with no Retry-After: PyGithub's retry waits a minute, once."""
    world.queue("GET", r"/repos/acme/my-mlops-project", Reply(403, SECONDARY_LIMIT))
    result = cli("repo.create")
    assert result.code == 0, result.err
    assert "created GitHub repo acme/my-mlops-project" in result.out
    gets = [u for m, u in http() if m == "GET" and u.endswith("/repos/acme/my-mlops-project")]
    assert len(gets) == 2  # the limited request, then its retry
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos"]
    assert 60 in no_sleep.calls  # waited, but the test did not
    assert not any(v in result.out + result.err for v in FAKE_VALUES)


PRIMARY_LIMIT = {
    "message": "API rate limit exceeded for user ID 2002. If you reach out to GitHub Support "
    "for help, please include the request ID 0400:3C1E:1A2B3C:4D5E6F:65E2F1A0.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
RESET_IN = 30  # seconds from the (frozen) now to x-ratelimit-reset


@pytest.mark.vcr
def test_github_primary_rate_limit_waits_until_the_reset(cli, world, http, no_sleep, monkeypatch):
    """403 "API rate limit exceeded" with x-ratelimit-remaining 0: PyGithub's retry waits until
    x-ratelimit-reset (plus a second), once, then the request goes through."""
    import datetime as dt

    from github import GithubRetry

    now = dt.datetime.fromtimestamp(fakeapi.NOW_EPOCH, dt.UTC)

    class FrozenClock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return now.astimezone(tz)

    # GithubRetry compares the reset with its own clock: freeze it at the cassette's now
    monkeypatch.setattr(GithubRetry, "_GithubRetry__datetime", FrozenClock)
    reset = fakeapi.NOW_EPOCH + RESET_IN
    world.queue(
        "GET",
        r"/repos/acme/my-mlops-project",
        Reply(
            403,
            PRIMARY_LIMIT,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "5000",
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-resource": "core",
            },
        ),
    )
    result = cli("repo.create")
    assert result.code == 0, result.err
    assert "created GitHub repo acme/my-mlops-project" in result.out
    gets = [u for m, u in http() if m == "GET" and u.endswith("/repos/acme/my-mlops-project")]
    assert len(gets) == 2  # the limited request, then one retry
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos"]
    assert no_sleep.calls == [RESET_IN + 1]  # until the reset, plus PyGithub's extra second
    assert_nothing_leaked(result)


@pytest.mark.vcr
def test_databricks_429_with_retry_after_is_honoured(
    cli, world, http, no_sleep, monkeypatch, vcr, fake_api
):
    """A throttled grant (429, Retry-After: 7): the SDK waits exactly that long and sends it
    again; the grant is made once and a re-run finds nothing to do."""
    with_sps(world)
    world.queue(
        "PATCH",
        f"{UC}/permissions/catalog/staging",
        Reply(
            429,
            {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests. Retry later."},
            headers={"Retry-After": "7"},
        ),
    )
    no_jitter(monkeypatch)
    result = cli("ci.permissions")
    assert result.code == 0, result.err
    assert change_lines(result.out) == FRESH_CHANGES  # each change shown, and made, once
    assert no_sleep.calls == [7]  # the server's Retry-After, and nothing else slept
    assert sum(no_sleep.calls) <= SDK_RETRY_BUDGET
    assert mutating(http()) == [
        f"POST {STAGING}{UC}/schemas",
        f"POST {PROD}{UC}/schemas",
        f"POST {STAGING}{UC}/schemas",
        f"PATCH {STAGING}{UC}/permissions/catalog/staging",  # 429: not carried out
        f"PATCH {STAGING}{UC}/permissions/catalog/staging",
        f"PATCH {PROD}{UC}/permissions/catalog/prod",
        f"PATCH {STAGING}{UC}/permissions/catalog/test",
    ]
    throttled, granted = [
        (sent, answer)
        for uri, sent, answer in exchanges(vcr, fake_api, "PATCH")
        if uri.endswith("/catalog/staging")
    ]
    assert throttled[0] == granted[0]  # the very same request, sent again
    assert throttled[1]["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    held = [a for a in granted[1]["privilege_assignments"] if a["principal"] == STAGING_APP]
    assert [sorted(a["privileges"]) for a in held] == [sorted(ALL_FIVE_LIST)]
    again = cli("ci.permissions")
    assert again.code == 0, again.err
    assert "ci.permissions: no changes" in again.out
    assert len(mutating(http())) == 7
    assert_nothing_leaked(result, again)


@pytest.mark.vcr
def test_databricks_503_on_create_is_retried_and_makes_one_sp(
    cli, world, http, no_sleep, monkeypatch, fake_api
):
    """503 (no Retry-After) on creating an SP: the SDK waits its default second and sends it
    again; exactly one SP per environment exists afterwards."""
    world.queue(
        "POST",
        ACCOUNT_SPS,
        databricks_error(503, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable."),
    )
    no_jitter(monkeypatch)
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"create SP {STAGING_SP} (in the account)",
        f"assign SP {STAGING_SP} to workspace staging (USER)",
        f"create SP {PROD_SP} (in the account)",
        f"assign SP {PROD_SP} to workspace prod (USER)",
    ]
    assert no_sleep.calls == [1]  # the SDK's default when a 503 names no Retry-After
    assert sum(no_sleep.calls) <= SDK_RETRY_BUDGET
    assert mutating(http()) == [
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",  # 503: not carried out
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}",
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{PROD_ID}/permissionassignments/principals/{SECOND_ID}",
    ]
    # a re-run finds one SP per name (two would be an error listing both) and changes nothing
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert "ci.service-principals: no changes" in again.out
    assert len(mutating(http())) == 5
    if fake_api is not None:  # composing: the fake's account holds exactly one of each
        assert len(sps_named(world, STAGING_SP)) == len(sps_named(world, PROD_SP)) == 1
    assert_nothing_leaked(result, again)


# ------------------------------------------------------------------ service principals


def gateway_timeout() -> Reply:
    return databricks_error(504, "DEADLINE_EXCEEDED", "The request timed out at the gateway.")


@pytest.mark.vcr
def test_sp_create_that_timed_out_but_succeeded_is_found_and_used(
    cli, world, http, no_sleep, monkeypatch, fake_api
):
    """The account made the staging SP, but the answer was a 504: the step looks the SP up by
    name, uses it and goes on; no second SP is created, now or on a re-run."""
    lose_answer(monkeypatch, "POST", ACCOUNT_SPS, gateway_timeout())
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert (
        f">   SP {STAGING_SP}: the create failed with 504 (DeadlineExceeded), but the SP was "
        f"made: using it (application id {STAGING_APP})"
    ) in result.out
    assert mutating(http()) == [
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",  # made, answered 504
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}",
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{PROD_ID}/permissionassignments/principals/{SECOND_ID}",
    ]
    assert no_sleep.calls == []  # a 504 is not retried blindly: that could make a second SP
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert "ci.service-principals: no changes" in again.out
    assert len(mutating(http())) == 4
    if fake_api is not None:
        assert len(sps_named(world, STAGING_SP)) == len(sps_named(world, PROD_SP)) == 1
    assert_nothing_leaked(result, again)


@pytest.mark.vcr
def test_sp_create_that_timed_out_but_succeeded_is_found_by_name_on_rerun(
    cli, world, http, no_sleep, monkeypatch, fake_api
):
    """As above, but the account does not list the new SP yet when the step looks: it stops,
    saying the SP may exist; the re-run finds it by name and only assigns it."""
    lose_answer(monkeypatch, "POST", ACCOUNT_SPS, gateway_timeout())
    # the plan's two lookups (nothing there yet), then the look after the 504 (not listed yet)
    world.queue("GET", ACCOUNT_SPS, empty_scim_list(), empty_scim_list(), empty_scim_list())
    failed = cli("ci.service-principals")
    assert failed.code == 1
    assert failed.err.splitlines() == [
        f"error: creating SP {STAGING_SP} failed with 504 (DeadlineExceeded) and the SP is not "
        "listed (yet); the create may still have been carried out",
        "  fix: run `invoke ci.service-principals` again: it looks the SP up by name first and "
        "creates no second one",
        "  see: runbook/ci.md#service-principals",
    ]
    assert mutating(http()) == [f"POST {ACCOUNT}/scim/v2/ServicePrincipals"]
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert f"ok  SP {STAGING_SP} exists (application id {STAGING_APP})" in again.out
    assert change_lines(again.out) == [
        f"assign SP {STAGING_SP} to workspace staging (USER)",
        f"create SP {PROD_SP} (in the account)",
        f"assign SP {PROD_SP} to workspace prod (USER)",
    ]
    creates = [m for m in mutating(http()) if m.endswith("/scim/v2/ServicePrincipals")]
    assert len(creates) == 2  # one per environment, none doubled
    assert "no changes" in cli("ci.service-principals").out
    if fake_api is not None:
        assert len(sps_named(world, STAGING_SP)) == 1
    assert no_sleep.calls == []
    assert_nothing_leaked(failed, again)


@pytest.mark.vcr
def test_sp_not_yet_visible_in_the_workspace_nor_in_unity_catalog(
    cli, project, world, http, no_sleep, fake_api
):
    """New SPs show up late, in the workspace and in Unity Catalog: bounded waits, then one
    SP, one assignment and one accepted grant each; re-runs change nothing."""
    project.write_config(databricks={"sp_visible_timeout": 30})
    world.db["sp_visible_after"] = 2  # the workspace lists a new SP from its 3rd lookup on
    world.db["uc_unknown"] = {STAGING_APP: 2}  # Unity Catalog refuses the first 2 grants
    sps = cli("ci.service-principals")
    assert sps.code == 0, sps.err
    assert progress(sps.out) == [  # one line per state; the delays are below
        f"SP {STAGING_SP} in workspace staging: not there yet",
        f"SP {PROD_SP} in workspace prod: not there yet",
    ]
    grants = cli("ci.permissions")
    assert grants.code == 0, grants.err
    assert change_lines(grants.out) == FRESH_CHANGES
    assert progress(grants.out) == [f"SP {STAGING_SP} in Unity Catalog: not known yet"]
    # three bounded waits, each well inside databricks.sp_visible_timeout
    assert no_sleep.calls == [1, 2, 1, 2, 1, 2]
    assert all(sum(no_sleep.calls[i : i + 2]) <= 30 for i in (0, 2, 4))
    patch_staging = f"PATCH {STAGING}{UC}/permissions/catalog/staging"
    assert mutating(http()) == [
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}",
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{PROD_ID}/permissionassignments/principals/{SECOND_ID}",
        f"POST {STAGING}{UC}/schemas",
        f"POST {PROD}{UC}/schemas",
        f"POST {STAGING}{UC}/schemas",
        *[patch_staging] * 3,  # refused twice (principal unknown), then granted
        f"PATCH {PROD}{UC}/permissions/catalog/prod",
        f"PATCH {STAGING}{UC}/permissions/catalog/test",
    ]
    for task in ("ci.service-principals", "ci.permissions"):
        again = cli(task)
        assert again.code == 0, again.err
        assert f"{task}: no changes" in again.out
    assert len(mutating(http())) == 12
    if fake_api is not None:
        assert len(sps_named(world, STAGING_SP)) == 1
        assert sorted(uc_fake.grants_on(world, "catalog", "staging")[STAGING_APP]) == sorted(
            ALL_FIVE_LIST
        )
    assert_nothing_leaked(sps, grants)


# ------------------------------------------------------------------------------ workflows


@pytest.mark.project_only
@pytest.mark.vcr
def test_workflow_that_never_starts_is_given_up_then_resumed(
    cli, project, world, http, no_sleep, fake_api
):
    """GitHub accepts the dispatch but lists no run within the bound: a clear error with the
    workflow's Actions page; the re-run finds the run once it is listed and waits for it
    instead of dispatching a second one."""
    code_on_main(cli, project)
    project.write_config(ci={"wait_timeout": 60})
    world.gh["dispatch_rejects_run_details"] = True  # the run must be found by listing
    runs_of_workflow = rf"/repos/{REPO}/actions/workflows/[^/]+/runs"
    # the listing before the dispatch, then the five looks of a 60 s wait: no run
    world.queue("GET", runs_of_workflow, *[Reply(200, samples.workflow_runs_list())] * 6)
    result = cli("ci.workflows")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: GitHub accepted the dispatch of deploy-cicd.yml but listed no new run within 60s",
        f"  fix: look for it at {WEB}/actions/workflows/deploy-cicd.yml; a re-run waits for a "
        "run in progress instead of starting another",
        "  see: runbook/ci.md#workflows",
    ]
    assert progress(result.out) == ["the run of deploy-cicd.yml: not listed by GitHub yet"]
    assert no_sleep.calls == [5, 10, 20, 25]
    assert sum(no_sleep.calls) <= 60  # ci.wait_timeout
    again = cli("ci.workflows")
    assert again.code == 0, again.err
    assert progress(again.out)[0] == (
        f"deploy-cicd.yml run {RUN} is already queued, waiting for it: {RUN_URL}"
    )
    assert f"ok  PR #1 opened by deploy-cicd.yml run {RUN}: {WEB}/pull/1" in again.out
    # one run: the first dispatch (with return_run_details) was refused and started nothing
    assert len(dispatches(http)) == 2
    assert change_lines(again.out) == []
    if fake_api is not None:
        assert list(github_actions.runs(world)) == [RUN]
    assert_nothing_leaked(result, again)


@pytest.mark.project_only
@pytest.mark.vcr
def test_run_waiting_for_approval_is_reported_then_resumed(
    cli, project, world, http, no_sleep, monkeypatch
):
    """The dispatched run is held for a deployment review (status ``waiting``): a bounded wait,
    then exit 3 with the run's URL; once approved, the re-run waits for that same run."""
    code_on_main(cli, project)
    project.write_config(ci={"wait_timeout": 60})
    approval = {"pending": True}
    advance = github_actions._advance

    def held_until_approved(world, run):
        if approval["pending"]:
            run["status"] = "waiting"
            return
        advance(world, run)

    monkeypatch.setattr(github_actions, "_advance", held_until_approved)
    held = cli("ci.workflows")
    assert held.code == 3
    assert held.err.splitlines() == [
        f"error: deploy-cicd.yml run {RUN} is waiting for approval (a deployment protection "
        f"rule holds it); still waiting after 60s: {RUN_URL}",
        f"  fix: approve it at {RUN_URL} (Review deployments), or ask a required reviewer to; "
        "then run again: it waits for this run instead of starting another",
        "  see: runbook/ci.md#workflows",
    ]
    assert progress(held.out) == [f"deploy-cicd.yml run {RUN}: waiting: {RUN_URL}"]  # per state
    assert no_sleep.calls == [5, 10, 20, 25]
    assert sum(no_sleep.calls) <= 60  # ci.wait_timeout
    approval["pending"] = False  # a reviewer approves the deployment
    resumed = cli("ci.workflows")
    assert resumed.code == 0, resumed.err
    assert progress(resumed.out)[0] == (
        f"deploy-cicd.yml run {RUN} is already waiting, waiting for it: {RUN_URL}"
    )
    assert f"ok  PR #1 opened by deploy-cicd.yml run {RUN}: {WEB}/pull/1" in resumed.out
    assert len(dispatches(http)) == 1  # the same run, never a second dispatch
    assert_nothing_leaked(held, resumed)


# -------------------------------------------------------------------------------- merging


@pytest.mark.project_only
@pytest.mark.vcr
def test_merge_refused_with_405_is_waiting_then_resumed(cli, project, world, http, no_sleep):
    """GitHub refuses the merge (405, not mergeable): exit 3, GitHub's reason and the PR's
    URL, nothing merged; the re-run merges the same PR without dispatching again."""
    code_on_main(cli, project)
    world.queue(
        "PUT", rf"/repos/{REPO}/pulls/1/merge", github_error(405, "Pull Request is not mergeable")
    )
    main = project.upstream_git("rev-parse", "main")
    blocked = cli("ci.workflows", "--merge", "--fix-targets")
    assert blocked.code == 3
    assert blocked.err.splitlines()[:2] == [
        "error: GitHub will not merge PR #1 yet (405): Pull Request is not mergeable",
        f"  fix: get it ready at {WEB}/pull/1 (approve it, or ask an admin to adjust the "
        "protection of main), then run again: it resumes at the merge (1 change(s) before "
        "this one were applied; a re-run resumes here)",
    ]
    assert project.upstream_git("rev-parse", "main") == main  # nothing merged
    resumed = cli("ci.workflows", "--merge", "--fix-targets")
    assert resumed.code == 0, resumed.err
    assert project.upstream_git("rev-parse", "main") != main
    assert len(dispatches(http)) == 1
    assert [m for m in mutating(http()) if m.endswith("/merge")] == [f"PUT {API}/pulls/1/merge"] * 2
    assert no_sleep.calls == [5, 10]  # only the wait for the deploy-cicd.yml run, bounded
    assert_nothing_leaked(blocked, resumed)


@pytest.mark.project_only
@pytest.mark.vcr
def test_merge_refused_with_409_merges_nothing_then_resumes(cli, project, world, http, no_sleep):
    """The head moved between the check and the merge (409): nothing merged, exit 1; the re-run
    merges the PR at its current head without dispatching again."""
    code_on_main(cli, project)
    world.queue(
        "PUT",
        rf"/repos/{REPO}/pulls/1/merge",
        github_error(409, "Head branch was modified. Review and try the merge again."),
    )
    main = project.upstream_git("rev-parse", "main")
    failed = cli("ci.workflows", "--merge", "--fix-targets")
    assert failed.code == 1
    first = failed.err.splitlines()[0]
    assert first.startswith("error: the head of PR #1 moved after it was checked (we checked ")
    assert first.endswith("); nothing was merged")
    assert project.upstream_git("rev-parse", "main") == main
    resumed = cli("ci.workflows", "--merge", "--fix-targets")
    assert resumed.code == 0, resumed.err
    (line,) = change_lines(resumed.out)
    assert line.startswith("merge PR #1 add-cicd-for-my-mlops-project-")
    assert no_sleep.calls == [5, 10]  # only the wait for the deploy-cicd.yml run, bounded
    assert project.upstream_git("rev-parse", "main") != main
    assert len(dispatches(http)) == 1
    assert_nothing_leaked(failed, resumed)


# ----------------------------------------------------------------------------------- git


def test_non_fast_forward_push_is_refused_and_nothing_is_lost(cli, project, tmp_path, no_sleep):
    """Someone pushed to main meanwhile: repo.push refuses (never forces), keeps the local
    edit, and after the fast-forward the guide asks for, pushes both."""
    assert cli("repo.init").code == 0
    assert cli("repo.push").code == 0
    project.commit_upstream("CHANGELOG.md", "someone else's commit\n", "other")
    theirs = project.upstream_git("rev-parse", "main")
    (project.root / "README.md").write_text("changed locally\n")
    refused = cli("repo.push")
    assert refused.code == 1
    assert "a push would not be a fast-forward" in refused.err
    assert "we never force-push" in refused.err
    assert project.upstream_git("rev-parse", "main") == theirs  # their commit kept
    assert (project.root / "README.md").read_text() == "changed locally\n"  # ours kept
    project.git("pull", "--quiet", "--ff-only", "upstream", "main")
    pushed = cli("repo.push")
    assert pushed.code == 0, pushed.err
    assert project.upstream_git("merge-base", "--is-ancestor", theirs, "main") == ""
    assert project.upstream_git("show", "main:README.md") == "changed locally"
    git_config = (project.root / ".git" / "config").read_text()
    assert not any(v in git_config for v in FAKE_VALUES)
    assert no_sleep.calls == []
    assert_nothing_leaked(refused, pushed)


# ---------------------------------------------------------------------------------- rights


@pytest.mark.vcr
def test_missing_rights_stop_setup_all_before_any_change(cli, project, world, http, no_sleep):
    """Not account admin: ``setup.all`` names the missing right and stops at its first step,
    before any mutating request and before any local git change."""
    world.db["account_admin"] = False
    result = cli("setup.all")
    assert result.code == 1
    assert "error: 1 prerequisite missing; nothing was changed" in result.err
    assert (
        "  - account admin (https://accounts.cloud.databricks.com): the account login may not "
        "read account users (403)"
    ) in result.err
    assert "ask an account admin to give ops@example.com the Account admin role" in result.err
    assert mutating(http()) == []
    assert not (project.root / ".git").exists()  # repo.init did not run
    assert project.upstream_git("for-each-ref") == ""  # nothing pushed
    assert no_sleep.calls == []  # a missing right is not waited for
    assert_nothing_leaked(result)


# --------------------------------------------------------- applied, then the answer lost

SECRETS = f"/repos/{REPO}/actions/secrets"
BAD_GATEWAY = github_error(502, "Server Error")


def status_of(cli, step: str) -> tuple[int, str]:
    """(exit code of ``setup.status --check``, the state of ``step`` in its table)."""
    result = cli("setup.status", "--check")
    row = next(line for line in result.out.splitlines() if line.startswith(step + " "))
    return result.code, row.split()[1]


@pytest.mark.vcr
def test_secret_write_applied_but_answer_lost_keeps_the_token(
    cli, project, world, http, no_sleep, monkeypatch, fake_api
):
    """GitHub stores STAGING_WORKSPACE_TOKEN, then the answer is lost (502): the step reads
    the secret back, sees it updated, and keeps the new token (the secret holds it); no revoke,
    no blind second write; a re-run changes nothing."""
    from tests.test_ci_secrets import FRESH_REQUESTS, ledger, seed

    seed(world)
    lose_answer(monkeypatch, "PUT", f"{SECRETS}/STAGING_WORKSPACE_TOKEN", BAD_GATEWAY)
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert (
        ">   secret STAGING_WORKSPACE_TOKEN: the answer to the write was lost (502 (Bad "
        "Gateway)), but GitHub shows it updated: it holds the new token"
    ) in result.out
    assert mutating(http()) == FRESH_REQUESTS  # one write each, and no DELETE
    assert ("GET", f"{API}/actions/secrets/STAGING_WORKSPACE_TOKEN") in http()
    stored = ledger(project)
    assert stored["in_flight"] == {}
    if fake_api is not None:  # the secret holds exactly the token the journal names
        held = world.gh["secrets"][REPO]["STAGING_WORKSPACE_TOKEN"]["token_id"]
        assert held == stored["stored"]["staging"]["token_id"]
    assert no_sleep.calls == []  # a write that met a 5xx is not retried blindly
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert "ci.secrets: no changes" in again.out
    assert len(mutating(http())) == len(FRESH_REQUESTS)
    assert_nothing_leaked(result, again)


@pytest.mark.vcr
def test_secret_write_answer_lost_and_unreadable_is_drift_then_repaired(
    cli, project, world, http, no_sleep, monkeypatch, fake_api
):
    """As above, but reading the secret back fails too: the new token is kept (the secret may
    hold it), the run exits 1 saying so; setup.status calls ci.secrets drifted (--check: 1);
    the next run stores a newer token first, then revokes the kept one."""
    from tests.test_ci_secrets import ledger, seed

    seed(world)
    lose_answer(monkeypatch, "PUT", f"{SECRETS}/STAGING_WORKSPACE_TOKEN", BAD_GATEWAY)
    # the read-back fails, through all of PyGithub's retries of a GET (5 + the first)
    world.queue("GET", f"{SECRETS}/STAGING_WORKSPACE_TOKEN", *[BAD_GATEWAY] * 6)
    failed = cli("ci.secrets")
    assert failed.code == 1
    kept = ledger(project)["stored"]["staging"]["token_id"]
    assert failed.err.splitlines()[:2] == [
        "error: could not tell whether secret STAGING_WORKSPACE_TOKEN was stored (502 (Bad "
        f"Gateway)); the new token {kept[:8]} was kept, since the secret may hold it",
        f"  fix: run `invoke ci.secrets` again: it stores a newer token in the secret first, "
        f"then revokes {kept[:8]} (1 change(s) before this one were applied; a re-run resumes "
        "here)",
    ]
    assert not [m for m in mutating(http()) if m.startswith("DELETE")]
    assert ledger(project)["in_flight"] == {}
    code, state = status_of(cli, "ci.secrets")
    assert (code, state) == (1, "drifted")
    repaired = cli("ci.secrets")
    assert repaired.code == 0, repaired.err
    assert (
        "!   secret STAGING_WORKSPACE_TOKEN has drifted: it may hold token "
        f"{kept[:8]} (an earlier write's answer was lost); replacing it"
    ) in repaired.out
    lines = change_lines(repaired.out)
    assert lines[:3] == [
        f"mint token for SP {STAGING_SP} (lifetime 90 days)",
        "set secret STAGING_WORKSPACE_TOKEN",
        f"revoke token {kept[:8]} of SP {STAGING_SP} (replaced)",
    ]
    deletes = [m for m in mutating(http()) if m.startswith("DELETE")]
    assert deletes == [f"DELETE {STAGING}/api/2.0/token-management/tokens/{kept}"]
    assert status_of(cli, "ci.secrets")[1] == "done"
    if fake_api is not None:
        held = world.gh["secrets"][REPO]["STAGING_WORKSPACE_TOKEN"]["token_id"]
        assert held == ledger(project)["stored"]["staging"]["token_id"] != kept
    assert_nothing_leaked(failed, repaired)


def _setup_azure_secrets(cli, project, world) -> None:
    from tests.fakeapi import graph_apps
    from tests.test_ci_azure import seed_azure

    project.regenerate(cloud="azure")
    graph_apps.azure_workspaces(world)
    seed_azure(world)


def _setup_azure_secrets_done(cli, project, world) -> None:
    _setup_azure_secrets(cli, project, world)
    assert cli("ci.secrets").code == 0


def _setup_oauth_secrets(cli, project, world) -> None:
    from tests.test_ci_auth import seed

    seed(world)
    project.write_config(ci={"auth_mode": "oauth"})


def _setup_oauth_secrets_done(cli, project, world) -> None:
    _setup_oauth_secrets(cli, project, world)
    assert cli("ci.secrets").code == 0


# The Entra client secret and OAuth secret paths share the token path's write (credentials.py):
# the same read-back when the answer is lost.
CREDENTIAL_WRITES = {
    # mode: (setup, the GitHub secret, what it holds, a part of the path that retires one)
    "azure": (
        _setup_azure_secrets,
        "STAGING_AZURE_SP_CLIENT_SECRET",
        "client secret",
        "/removePassword",
    ),
    "oauth": (
        _setup_oauth_secrets,
        "STAGING_DATABRICKS_CLIENT_SECRET",
        "OAuth secret",
        "/credentials/secrets/",
    ),
}


@pytest.mark.vcr
@pytest.mark.parametrize("mode", sorted(CREDENTIAL_WRITES))
def test_credential_write_applied_but_answer_lost_keeps_the_new_one(
    cli, project, world, http, monkeypatch, mode
):
    """As for tokens: GitHub stores the secret, the answer is lost (502); the step reads it
    back, sees it updated, keeps the new credential (nothing removed, no second write); a re-run
    changes nothing."""
    setup, name, noun, retires = CREDENTIAL_WRITES[mode]
    setup(cli, project, world)
    lose_answer(monkeypatch, "PUT", f"{SECRETS}/{name}", BAD_GATEWAY)
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    assert (
        f">   secret {name}: the answer to the write was lost (502 (Bad Gateway)), but GitHub "
        f"shows it updated: it holds the new {noun}"
    ) in result.out
    sent = mutating(http())
    assert [m for m in sent if m.endswith(f"/{name}")] == [f"PUT {API}/actions/secrets/{name}"]
    assert not [m for m in sent if retires in m]
    assert ("GET", f"{API}/actions/secrets/{name}") in http()
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert "ci.secrets: no changes" in again.out
    assert len(mutating(http())) == len(sent)
    assert_nothing_leaked(result, again)


@pytest.mark.vcr
def test_oauth_write_answer_lost_and_unreadable_keeps_the_secret_then_replaces_it(
    cli, project, world, http, monkeypatch
):
    """The OAuth path, the write's answer lost and the read-back failing too: the new OAuth
    secret is kept, since the GitHub secret may hold it (it is not deleted), the run exits 1;
    the next run finds the secret drifted, stores a newer one first, then deletes the kept one."""
    from tests.test_ci_auth import ACCT, STAGING_ID, oauth_ledger

    _setup_oauth_secrets(cli, project, world)
    name = "STAGING_DATABRICKS_CLIENT_SECRET"
    lose_answer(monkeypatch, "PUT", f"{SECRETS}/{name}", BAD_GATEWAY)
    world.queue("GET", f"{SECRETS}/{name}", *[BAD_GATEWAY] * 6)  # PyGithub retries a GET 5 times
    failed = cli("ci.secrets")
    assert failed.code == 1
    kept = oauth_ledger(project)["stored"]["staging"]["token_id"]
    assert failed.err.splitlines()[:2] == [
        f"error: could not tell whether secret {name} was stored (502 (Bad Gateway)); the new "
        f"OAuth secret {kept[:8]} was kept, since the secret may hold it",
        "  fix: run `invoke ci.secrets` again: it stores a newer OAuth secret first, then "
        f"deletes {kept[:8]} (1 change(s) before this one were applied; a re-run resumes here)",
    ]
    assert not [m for m in mutating(http()) if m.startswith("DELETE")]
    assert oauth_ledger(project)["in_flight"] == {}
    repaired = cli("ci.secrets")
    assert repaired.code == 0, repaired.err
    assert (
        f"!   secret {name} has drifted: it may hold OAuth secret {kept[:8]} (an earlier write's "
        "answer was lost); replacing it"
    ) in repaired.out
    lines = change_lines(repaired.out)
    assert lines[:2] == [
        f"create OAuth secret of SP {STAGING_SP} (lifetime 90 days)",
        f"set secret {name}",
    ]
    assert f"delete OAuth secret {kept[:8]} of SP {STAGING_SP} (replaced)" in lines
    deletes = [m for m in mutating(http()) if m.startswith("DELETE")]
    assert deletes == [f"DELETE {ACCT}/{STAGING_ID}/credentials/secrets/{kept}"]
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert_nothing_leaked(failed, repaired, again)


@pytest.mark.vcr
def test_secret_holding_a_revoked_token_is_drift_then_repaired(cli, project, world, http, fake_api):
    """Someone revoked the token STAGING_WORKSPACE_TOKEN holds: not "left as it is" but
    drifted (setup.status --check exits 1), and ci.secrets replaces it."""
    from tests.fakeapi import databricks_tokens
    from tests.test_ci_secrets import ledger, seed

    seed(world)
    assert cli("ci.secrets").code == 0
    gone = ledger(project)["stored"]["staging"]["token_id"]
    if fake_api is not None:  # a workspace admin revokes it
        databricks_tokens.tokens(world, "staging.cloud.databricks.com").pop(gone)
    code, state = status_of(cli, "ci.secrets")
    assert (code, state) == (1, "drifted")
    repaired = cli("ci.secrets")
    assert repaired.code == 0, repaired.err
    assert (
        f"!   secret STAGING_WORKSPACE_TOKEN has drifted: it holds token {gone[:8]}, revoked or "
        "expired; replacing it"
    ) in repaired.out
    assert change_lines(repaired.out) == [
        f"mint token for SP {STAGING_SP} (lifetime 90 days)",
        "set secret STAGING_WORKSPACE_TOKEN",
    ]
    assert status_of(cli, "ci.secrets")[1] == "done"
    assert_nothing_leaked(repaired)


# One row per kind of write: the server carries it out, then its answer is lost (a 502 from
# GitHub's edge, a 504 from a Databricks gateway). The step reads the truth, finds the write in
# place, says so and goes on: the write is sent once, nothing is made twice or undone, and a
# re-run has nothing to do.


def _setup_none(cli, project, world) -> None:
    return None


def _setup_repo(cli, project, world) -> None:
    from tests.fakeapi import github_repos

    github_repos.add_repo(world, REPO)


def _setup_auth_pr(cli, project, world) -> None:
    """ci.auth_mode oidc, the project on main, the PR's checks passing."""
    from tests.fakeapi import github_pulls
    from tests.test_ci_auth import AUTH_BRANCH, on_main, seed

    seed(world)
    on_main(project)
    project.write_config(ci={"auth_mode": "oidc"})
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])


def _setup_sps(cli, project, world) -> None:
    with_sps(world)


def _setup_secrets(cli, project, world) -> None:
    from tests.test_ci_secrets import seed

    seed(world)


def _setup_secrets_done(cli, project, world) -> None:
    _setup_secrets(cli, project, world)
    assert cli("ci.secrets").code == 0


def _setup_pushed(cli, project, world) -> None:
    assert cli("repo").code == 0


def _setup_released_behind(cli, project, world) -> None:
    from tests.test_release import _commit_on_master

    _setup_pushed(cli, project, world)
    assert cli("release").code == 0
    _commit_on_master(project, "a.txt", "a\n")


def _setup_code_on_main(cli, project, world) -> None:
    project.regenerate(with_cicd=False)  # a Project_Only project: deploy-cicd.yml is run for it
    code_on_main(cli, project)


def _setup_checks(cli, project, world) -> None:
    from tests.fakeapi import github_pulls
    from tests.test_code import CHECKS

    _setup_pushed(cli, project, world)
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=0)


def _setup_handoff(cli, project, world) -> None:
    from tests.test_handoff import finished_setup

    finished_setup(world)


def _setup_paused_jobs(cli, project, world) -> None:
    from tests.fakeapi import databricks_jobs
    from tests.test_deploy import tables_exist

    tables_exist(world)
    databricks_jobs.pause_schedules(world, "prod", "model-training")


ASSIGN = f"/api/2.0/accounts/{ACCOUNT_ID}/workspaces/{STAGING_ID}/permissionassignments"
LOST: dict[str, tuple] = {
    # id: (setup, command, method, a path of the route, answer given, note, path sent once)
    "repo-create": (
        _setup_none,
        ("repo.create",),
        "POST",
        "/orgs/acme/repos",
        BAD_GATEWAY,
        f"creating GitHub repo {REPO}: the answer was lost (502 (Bad Gateway))",
        "/orgs/acme/repos",
    ),
    "workflow-permissions": (
        _setup_repo,
        ("ci.workflow-permissions",),
        "PUT",
        f"/repos/{REPO}/actions/permissions/workflow",
        BAD_GATEWAY,
        "changing the workflow permissions: the answer was lost (502 (Bad Gateway))",
        "/actions/permissions/workflow",
    ),
    "sp-assign": (
        _setup_none,
        ("ci.service-principals",),
        "PUT",
        f"{ASSIGN}/principals/{FIRST_ID}",
        gateway_timeout(),
        f"assigning SP {STAGING_SP} to workspace staging: the answer was lost (504 "
        "(DeadlineExceeded))",
        f"/permissionassignments/principals/{FIRST_ID}",
    ),
    "schema-create": (
        _setup_sps,
        ("ci.permissions",),
        "POST",
        f"{UC}/schemas",
        gateway_timeout(),
        "creating schema staging.my-mlops-project: the answer was lost (504 (DeadlineExceeded))",
        None,  # one schema per catalog: counted below by body
    ),
    "grant": (
        _setup_sps,
        ("ci.permissions",),
        "PATCH",
        f"{UC}/permissions/catalog/staging",
        gateway_timeout(),
        "granting USE_CATALOG, USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE on catalog "
        "staging: the answer was lost (504 (DeadlineExceeded))",
        "/permissions/catalog/staging",
    ),
    "token-mint": (
        _setup_secrets,
        ("ci.secrets",),
        "POST",
        "/api/2.0/token-management/on-behalf-of/tokens",
        gateway_timeout(),
        f"minting a token for {STAGING_SP}: the answer was lost (504 (DeadlineExceeded)); "
        "revoked the token it made",
        None,  # minted twice on purpose: the first token's value was lost with the answer
    ),
    "token-revoke": (
        _setup_secrets_done,
        ("ci.secrets", "--rotate"),
        "DELETE",
        "/api/2.0/token-management/tokens/x",
        gateway_timeout(),
        "revoking token ",
        "/api/2.0/token-management/tokens/",
    ),
    "client-secret-remove": (
        _setup_azure_secrets_done,
        ("ci.secrets", "--rotate"),
        "POST",
        "/v1.0/applications/0/removePassword",
        graph_error(502, "BadGateway", "The gateway did not receive a response in time."),
        "removing client secret ",
        "/removePassword",
    ),
    "oauth-secret-delete": (
        _setup_oauth_secrets_done,
        ("ci.secrets", "--rotate"),
        "DELETE",
        f"/api/2.0/accounts/{ACCOUNT_ID}/servicePrincipals/1/credentials/secrets/x",
        gateway_timeout(),
        "deleting OAuth secret ",
        "/credentials/secrets/",
    ),
    "ref-create": (
        _setup_pushed,
        ("release",),
        "POST",
        f"/repos/{REPO}/git/refs",
        BAD_GATEWAY,
        "creating branch release: the answer was lost (502 (Bad Gateway))",
        "/git/refs",
    ),
    "ref-update": (
        _setup_released_behind,
        ("release", "--update"),
        "PATCH",
        f"/repos/{REPO}/git/refs/heads/release",
        BAD_GATEWAY,
        "fast-forwarding branch release: the answer was lost (502 (Bad Gateway))",
        "/git/refs/heads/release",
    ),
    "dispatch": (
        _setup_code_on_main,
        ("ci.workflows",),
        "POST",
        f"/repos/{REPO}/actions/workflows/deploy-cicd.yml/dispatches",
        BAD_GATEWAY,
        "dispatching deploy-cicd.yml: the answer was lost (502 (Bad Gateway)); looking for the "
        "run it started",
        "/dispatches",
    ),
    "merge": (
        _setup_code_on_main,
        ("ci.workflows", "--merge", "--fix-targets"),
        "PUT",
        f"/repos/{REPO}/pulls/1/merge",
        BAD_GATEWAY,
        "merging PR #1: the answer was lost (502 (Bad Gateway))",
        "/pulls/1/merge",
    ),
    "pr-create": (
        _setup_checks,
        ("code.pr",),
        "POST",
        f"/repos/{REPO}/pulls",
        BAD_GATEWAY,
        "opening the pull request add-ml-code -> main: the answer was lost (502 (Bad Gateway))",
        f"{REPO}/pulls",
    ),
    "issue-create": (
        _setup_handoff,
        ("handoff",),
        "POST",
        f"/repos/{REPO}/issues",
        BAD_GATEWAY,
        "opening issue 'Your MLOps project my-mlops-project is ready': the answer was lost (502 "
        "(Bad Gateway))",
        "/issues",
    ),
    "auth-commit": (
        _setup_auth_pr,
        ("ci.auth", "--merge"),
        "PUT",
        f"/repos/{REPO}/contents/.github/workflows/deploy-cicd.yml",
        BAD_GATEWAY,
        "committing .github/workflows/deploy-cicd.yml on mlops-setup/ci-auth-oidc: the answer was "
        "lost (502 (Bad Gateway))",
        "/contents/.github/workflows/deploy-cicd.yml",
    ),
    "job-enable": (
        _setup_paused_jobs,
        ("deploy.jobs", "--enable"),
        "POST",
        "/api/2.2/jobs/update",
        gateway_timeout(),
        "enabling job prod-my-mlops-project-model-training-job: the answer was lost (504 "
        "(DeadlineExceeded))",
        "/jobs/update",
    ),
}


@pytest.mark.vcr
@pytest.mark.parametrize("kind", sorted(LOST))
def test_write_applied_then_answer_lost(cli, project, world, http, monkeypatch, fake_api, kind):
    """Each kind of write, carried out and its answer lost: read back, kept, sent once (mint:
    the valueless token revoked, then minted again), and a re-run changes nothing."""
    setup, command, method, path, reply, note, once = LOST[kind]
    setup(cli, project, world)
    before = len(mutating(http()))
    lose_answer(monkeypatch, method, path, reply)
    result = cli(*command)
    assert result.code == 0, result.err
    notes = [line.strip()[1:].strip() for line in result.out.splitlines() if "  >   " in line]
    assert any(n.startswith(note) for n in notes), notes
    assert any("answer was lost" in n for n in notes)
    sent = mutating(http())[before:]
    if once is not None:
        hits = [m for m in sent if m.startswith(method + " ") and once in m]
        assert hits and len(hits) == len(set(hits)), sent  # never repeated blindly
    again = cli(*[c for c in command if c != "--rotate"])
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert_nothing_leaked(result, again)


# ------------------------------------------------------------------------- the fault matrix

# fault -> ("test module::test name" that injects it, the outcome it asserts). Every test
# asserts the exit code and message, the bound of any wait, and that nothing leaked or was lost.
FAULT_MATRIX: dict[str, tuple[str, str]] = {
    "federation policy create answered 409, same subject": (
        "test_ci_auth.py::test_oidc_policy_conflict_adopted_when_it_matches",
        "the existing policy is read and adopted; nothing else sent for it",
    ),
    "federation policy create answered 409, another subject": (
        "test_ci_auth.py::test_oidc_policy_conflict_naming_another_subject_is_refused",
        "exit 1 naming the subject; the policy is never overwritten",
    ),
    "ci.auth PR checks fail with the new credentials": (
        "test_ci_auth.py::test_auth_failing_checks_merge_nothing_and_retire_nothing",
        "exit 1 with the failing check and the PR's URL; nothing merged, nothing revoked or "
        "deleted; main still reads the old credentials",
    ),
    "ci.auth stopped between the merge and the revoke": (
        "test_ci_auth.py::test_auth_stopped_between_merge_and_revoke_finishes_the_revoke_next_run",
        "exit 1 after the merge; the next run finds the workflows in form and retires the old "
        "tokens and secrets (read from the live systems)",
    ),
    "Databricks 429 with Retry-After": (
        "test_faults.py::test_databricks_429_with_retry_after_is_honoured",
        "SDK sleeps exactly Retry-After, resends; grant made once; re-run changes nothing",
    ),
    "Databricks 503 on a mutating call": (
        "test_faults.py::test_databricks_503_on_create_is_retried_and_makes_one_sp",
        "SDK retries after 1 s; exactly one SP per environment; re-run changes nothing",
    ),
    "GitHub secondary rate limit without Retry-After": (
        "test_faults.py::test_github_secondary_rate_limit_without_retry_after",
        "PyGithub waits 60 s once, retries; repo created once",
    ),
    "GitHub primary rate limit (x-ratelimit-remaining 0)": (
        "test_faults.py::test_github_primary_rate_limit_waits_until_the_reset",
        "PyGithub waits until x-ratelimit-reset + 1 s, once, retries; repo created once",
    ),
    "SP not yet visible (workspace and Unity Catalog)": (
        "test_faults.py::test_sp_not_yet_visible_in_the_workspace_nor_in_unity_catalog",
        "bounded waits (sp_visible_timeout); one SP, assignment, grant each; re-runs no-op",
    ),
    "SP never becomes visible": (
        "test_ci_service_principals.py::test_sp_that_never_shows_up_is_reported_with_what_was_done",
        "exit 1 after sp_visible_timeout naming what was done; a re-run resumes",
    ),
    "token minted, then the secret write fails": (
        "test_ci_secrets.py::test_failed_secret_write_revokes_the_new_token",
        "exit 1; the new token revoked at once; journal clean; re-run mints again",
    ),
    "crash between mint and secret write": (
        "test_ci_secrets.py::test_crash_between_mint_and_write_is_cleaned_up_next_run",
        "journal holds the token id (no value); the next run revokes the orphan",
    ),
    "SP create timed out but succeeded (listed at once)": (
        "test_faults.py::test_sp_create_that_timed_out_but_succeeded_is_found_and_used",
        "504 not retried; SP found by name and used; no second SP",
    ),
    "SP create timed out but succeeded (listed late)": (
        "test_faults.py::test_sp_create_that_timed_out_but_succeeded_is_found_by_name_on_rerun",
        "exit 1 saying it may exist; re-run finds it by name, only assigns; no second SP",
    ),
    "merge refused (405)": (
        "test_faults.py::test_merge_refused_with_405_is_waiting_then_resumed",
        "exit 3 with GitHub's reason and the PR URL; nothing merged; re-run merges",
    ),
    "merge blocked by branch protection (405)": (
        "test_ci_workflows.py::test_merge_blocked_by_protection_is_reported_and_resumed",
        "exit 3 naming the required review; re-run after approval merges",
    ),
    "merge head moved (409)": (
        "test_faults.py::test_merge_refused_with_409_merges_nothing_then_resumes",
        "exit 1, nothing merged; re-run merges the current head; one dispatch",
    ),
    "non-fast-forward push": (
        "test_faults.py::test_non_fast_forward_push_is_refused_and_nothing_is_lost",
        "exit 1, never forced; both commits kept; pushes after a fast-forward",
    ),
    "GitHub repo with unrelated history": (
        "test_repo.py::test_unrelated_history_is_reported",
        "exit 1 before any commit",
    ),
    "missing rights caught before any change": (
        "test_faults.py::test_missing_rights_stop_setup_all_before_any_change",
        "setup.all exits 1 at ci.prerequisites; no mutating request, no git change",
    ),
    "no right to create the repo": (
        "test_repo.py::test_permission_denied_is_explained",
        "exit 1 naming whom to ask",
    ),
    "workflow never starts (dispatch accepted, no run listed)": (
        "test_faults.py::test_workflow_that_never_starts_is_given_up_then_resumed",
        "exit 1 after ci.wait_timeout with the Actions URL; re-run waits for the run",
    ),
    "workflow run waits for approval": (
        "test_faults.py::test_run_waiting_for_approval_is_reported_then_resumed",
        "exit 3 after ci.wait_timeout with the run URL; re-run waits for the same run",
    ),
    "workflow run does not finish in time": (
        "test_ci_workflows.py::test_run_that_does_not_finish_in_time_is_given_up_then_resumed",
        "exit 1 after ci.wait_timeout with the run URL; re-run waits, no second dispatch",
    ),
    "secret write applied, answer lost (502)": (
        "test_faults.py::test_secret_write_applied_but_answer_lost_keeps_the_token",
        "secret read back, new token kept (no revoke, no second write); re-run no-op",
    ),
    "secret write answer lost, read-back fails too": (
        "test_faults.py::test_secret_write_answer_lost_and_unreadable_is_drift_then_repaired",
        "exit 1, token kept; status drifted (--check 1); next run writes first, then revokes",
    ),
    "Entra client secret write applied, answer lost (502)": (
        "test_faults.py::test_credential_write_applied_but_answer_lost_keeps_the_new_one[azure]",
        "secret read back, client secret kept (no removePassword, no second write); re-run no-op",
    ),
    "OAuth secret write applied, answer lost (502)": (
        "test_faults.py::test_credential_write_applied_but_answer_lost_keeps_the_new_one[oauth]",
        "secret read back, OAuth secret kept (no delete, no second write); re-run no-op",
    ),
    "OAuth secret write answer lost, read-back fails too": (
        "test_faults.py::test_oauth_write_answer_lost_and_unreadable_keeps_the_secret_then_replaces_it",
        "exit 1, OAuth secret kept (not deleted); next run drifted: writes first, then deletes",
    ),
    "secret holds a token someone revoked": (
        "test_faults.py::test_secret_holding_a_revoked_token_is_drift_then_repaired",
        "status drifted (--check 1); ci.secrets replaces it; status done",
    ),
    "auth-commit: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[auth-commit]",
        "read back from the branch and kept; sent once; a re-run changes nothing",
    ),
    "repo-create: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[repo-create]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "workflow-permissions: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[workflow-permissions]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "sp-assign: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[sp-assign]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "schema-create: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[schema-create]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "grant: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[grant]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "token-mint: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[token-mint]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "token-revoke: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[token-revoke]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "client-secret-remove: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[client-secret-remove]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "oauth-secret-delete: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[oauth-secret-delete]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "ref-create: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[ref-create]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "ref-update: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[ref-update]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "dispatch: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[dispatch]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "merge: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[merge]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "pr-create: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[pr-create]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "issue-create: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[issue-create]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "job-enable: applied, then the answer lost": (
        "test_faults.py::test_write_applied_then_answer_lost[job-enable]",
        "read back and kept; sent once; a re-run changes nothing",
    ),
    "grants of other principals untouched": (
        "test_ci_permissions.py::test_other_principals_grants_survive",
        "only add for our SP, never remove; the other principal's grants as they were",
    ),
    "secret delete (setup.destroy): applied, then the answer lost": (
        "test_teardown.py::test_deletes_whose_answer_was_lost_are_read_back",
        "502 read back: gone, counted as done; every delete sent once",
    ),
    "assignment removal (setup.destroy): applied, then the answer lost": (
        "test_teardown.py::test_lost_assignment_removal_is_read_back",
        "504 read back: gone, counted as done; every delete sent once",
    ),
    "revoke refused mid-destroy (403)": (
        "test_teardown.py::test_a_destroy_that_stops_says_what_it_undid_and_a_rerun_resumes",
        "exit 1 naming the step and how many changes were undone; a re-run does only the rest",
    ),
    "destroy killed right after a revoke": (
        "test_teardown.py::test_a_destroy_killed_after_a_revoke_resumes_without_repeating_it",
        "exit 130; the re-run finds the revoke done, forgets it, sends nothing twice",
    ),
}


def _functions(module: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(module.read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _marked_vcr(func: ast.FunctionDef) -> bool:
    return any(
        re.fullmatch(r"pytest\.mark\.vcr(\(.*\))?", ast.unparse(d), re.DOTALL)
        for d in func.decorator_list
    )


def _runs_git(func: ast.FunctionDef) -> bool:
    """Calls ``project.git(...)``/``project.upstream_git(...)``: git for real, no cassette."""
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("git", "upstream_git")
        for node in ast.walk(func)
    )


def test_fault_matrix_is_complete():
    functions = functools.cache(_functions)  # one parse a module, not one a row (~50 rows)
    for fault, (where, outcome) in FAULT_MATRIX.items():
        assert outcome, f"{fault}: no expected outcome"
        module, name = where.split("::")
        path = TESTS / module
        assert path.exists(), f"{fault}: {module} missing"
        func = functions(path).get(name.split("[", 1)[0])  # test[param]: one row per param
        assert func is not None, f"{fault}: {where} missing"
        if _marked_vcr(func):
            cassette = CASSETTES / module.removesuffix(".py") / f"{name}.yaml"
            assert cassette.exists(), f"{fault}: {where} has no cassette ({cassette.name})"
        else:
            assert _runs_git(func), f"{fault}: {where} neither replays a cassette nor runs git"
    # every fault test of this module is in the table
    listed = {where.split("[", 1)[0] for where, _ in FAULT_MATRIX.values()}
    for name in functions(Path(__file__)):
        if name.startswith("test_") and name != "test_fault_matrix_is_complete":
            assert f"test_faults.py::{name}" in listed, f"{name} is not in FAULT_MATRIX"
