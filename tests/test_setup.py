"""The ``setup`` namespace: setup.all, setup.plan, setup.status, on the whole guide.

The project is generated with its CI/CD workflows (as the demo's), so ``ci.workflows`` has
nothing to dispatch and the ML code pull request runs the project's checks. Section-level
details (each failure's wording, each wait) are the section modules' tests; here: the order,
stopping and resuming, and what ``setup.status`` makes of the live state.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from mlops_setup.guide import guide_steps
from tests.conftest import ROOT, make_project, mutating
from tests.fakeapi import (
    World,
    databricks_error,
    databricks_iam,
    databricks_jobs,
    github_actions,
    github_git,
    github_issues,
    github_pulls,
    github_repos,
)
from tests.test_repo import change_lines

P = "my-mlops-project"
REPO = f"acme/{P}"
GH = f"https://api.github.com/repos/{REPO}"
PROD = "https://prod.cloud.databricks.com"
PROD_HOST = databricks_jobs.HOSTS["prod"]
STEPS = [step.name for step in guide_steps()]
# the ML code pull request runs the project's pull_request workflows: bundle-ci, run-tests
CHECKS = [
    ("staging", "success"),
    ("prod", "success"),
    ("unit_tests", "success"),
    ("integration_test", "success"),
]
GRANT = "USE_CATALOG, USE_SCHEMA, MODIFY, CREATE_MODEL, CREATE_TABLE"
ISSUE_TITLE = f"Your MLOps project {P} is ready"
FRESH = {  # what setup.all changes on a fresh world, by step
    "ci.prerequisites": [],
    "repo.create": [f"create GitHub repo {REPO} (private, in organisation)"],
    "repo.init": [
        f"init git repository in {P} (branch main)",
        "add remote upstream -> upstream.git",
        "exclude /.mlops-setup/ from git (the tool's local journal, in .git/info/exclude)",
    ],
    "repo.push": [
        "commit README.md, docs, .gitignore, my_mlops_project/resources/README.md "
        "(first commit on main)",
        "push main to upstream (upstream.git)",
    ],
    "ci.service-principals": [
        f"create SP staging-{P} (in the account)",
        f"assign SP staging-{P} to workspace staging (USER)",
        f"create SP prod-{P} (in the account)",
        f"assign SP prod-{P} to workspace prod (USER)",
    ],
    "ci.permissions": [
        f"create schema staging.{P} (workspace staging)",
        f"create schema prod.{P} (workspace prod)",
        f"create schema test.{P} (workspace staging)",
        f"grant {GRANT} on catalog staging to SP staging-{P}",
        f"grant {GRANT} on catalog prod to SP prod-{P}",
        f"grant {GRANT} on catalog test to SP staging-{P}",
    ],
    "ci.secrets": [
        f"mint token for SP staging-{P} (lifetime 90 days)",
        "set secret STAGING_WORKSPACE_TOKEN",
        f"mint token for SP prod-{P} (lifetime 90 days)",
        "set secret PROD_WORKSPACE_TOKEN",
        "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)",
    ],
    "ci.workflow-permissions": [
        f"update workflow permissions of {REPO} "
        "(read -> read and write; Actions may now create and approve PRs)"
    ],
    "code.pr": [
        "create branch add-ml-code from main",
        "commit the ML code on add-ml-code (35 files)",
        "push add-ml-code to upstream",
        "open PR add-ml-code -> main",
        "merge PR add-ml-code -> main (merge)",
        "update local main from upstream (and check out main)",
    ],
    "ci.workflows": [],
    "ci.auth": [],
    "release.branch": [f"create branch release on {REPO} (from main at {{main}})"],
    "deploy.runs": [],
    "deploy.jobs": [],
    "handoff.issue": [f"open issue '{ISSUE_TITLE}' on {REPO} (for @acme/data-science)"],
}

# A failure in code.pr leaves the project on branch add-ml-code: the re-run must still resume
# at code.pr (repo.push finds its work done from any branch once main is on GitHub).


@pytest.fixture
def project(tmp_path, clean_env, world):
    """The example project generated with its CI/CD workflows (CICD_and_Project)."""
    made = make_project(tmp_path, with_cicd=True)
    world.gh["git_dir"] = str(made.upstream)
    return made


@pytest.fixture
def sent(exchanges):
    """``sent()`` -> [(method, uri, status)] of this test's HTTP exchanges, in order."""
    return lambda: [(e.method, e.uri, e.status) for e in exchanges()]


def writes(exchanges) -> list[tuple[str, str]]:
    return [(m, u) for m, u, _ in exchanges if m not in ("GET", "HEAD")]


def checks_pass(world: World) -> None:
    """The ML code pull request's checks run, then pass."""
    github_pulls.set_checks(world, "add-ml-code", CHECKS, pending=1)


def sections(output: str) -> dict[str, str]:
    """The output of each step, by step name (from its ``== step: title ==`` header on)."""
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            current = line[3:].split(":", 1)[0]
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def status_rows(output: str) -> dict[str, tuple[str, str]]:
    """setup.status's table: step -> (state, detail)."""
    lines = output.splitlines()
    assert lines[0].split() == ["step", "state", "detail"]
    rows = {}
    for line in lines[1:]:
        if line.split()[0] not in STEPS:
            break
        name, state, *detail = line.split(None, 2)
        rows[name] = (state, detail[0] if detail else "")
    assert list(rows) == STEPS
    return rows


def states(output: str) -> dict[str, str]:
    return {name: state for name, (state, _) in status_rows(output).items()}


def master_sha(project) -> str:
    return project.upstream_git("rev-parse", "main")[:7]


# ----------------------------------------------------------------------------- the whole run

# The template's bare batch input table: ci.permissions explains it, deploy.jobs refers back.
TEMPLATE_TODO = [
    "  !   batch input table 'taxi_scoring_sample' (staging, prod) is not a full "
    "catalog.schema.table name: SELECT not granted; set it in "
    "my_mlops_project/resources/batch-inference-workflow-resource.yml",
    "  !   batch inference jobs (staging, prod) will fail when they run (daily at 11:00 UTC): "
    "see above",
]


def template_todo(out: str) -> list[str]:
    """The lines of a run that speak of the template's bare batch input table."""
    return [line for line in out.splitlines() if "taxi_scoring_sample" in line or "above" in line]


@pytest.mark.vcr
def test_full_setup_then_rerun_changes_nothing_and_status_is_all_done(
    cli, project, world, http, no_sleep
):
    checks_pass(world)
    result = cli("setup.all")
    assert_made(result, project, FRESH)
    assert template_todo(result.out) == TEMPLATE_TODO
    # it ended where the guide ends: the ML code on main and release, the clone on main
    assert project.upstream_git("rev-parse", "release") == project.upstream_git("rev-parse", "main")
    assert project.git("symbolic-ref", "--short", "HEAD") == "main"
    assert project.git("status", "--porcelain") == ""
    made = mutating(http())
    assert "POST https://api.github.com/orgs/acme/repos" in made
    assert f"PUT {GH}/pulls/1/merge" in made
    assert f"POST {GH}/git/refs" in made
    assert made[-1] == f"POST {GH}/issues"

    sent, slept = len(made), len(no_sleep.calls)
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert list(sections(again.out)) == STEPS
    assert change_lines(again.out) == []
    for step in STEPS:
        assert f"{step}: no changes" in again.out
    assert again.out.splitlines()[-1] == "setup.all: no changes"
    assert template_todo(again.out) == TEMPLATE_TODO  # each command explains it afresh
    assert len(mutating(http())) == sent  # a finished setup sends no mutating request
    assert len(no_sleep.calls) == slept  # nor waits for anything

    status = cli("setup.status", "--check")
    assert status.code == 0, status.err
    assert status.err == ""
    assert set(states(status.out).values()) == {"done"}
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_handoff_already_opened_is_not_opened_again(cli, project, world, http):
    checks_pass(world)
    github_repos.add_repo(world, REPO)  # made by hand, empty
    github_issues.add_issue(world, REPO, ISSUE_TITLE, state="closed")
    result = cli("setup.all")
    assert result.code == 0, result.err
    out = sections(result.out)
    assert "ok  GitHub repo acme/my-mlops-project exists (private)" in out["repo.create"]
    assert change_lines(out["handoff.issue"]) == []
    assert "ok  hand-over issue #1 exists (closed)" in out["handoff.issue"]
    made = mutating(http())
    assert f"POST {GH}/issues" not in made
    assert "POST https://api.github.com/orgs/acme/repos" not in made
    assert f"PUT {GH}/pulls/2/merge" in made  # the PR takes the number after the issue's


# ---------------------------------------------------------------------------------- setup.plan


@pytest.mark.vcr
def test_plan_on_a_fresh_world_reads_only(cli, project, world, http, no_sleep):
    checks_pass(world)
    for env in ("staging", "prod"):
        databricks_jobs.remove_jobs(world, env)  # before the CD runs, no job is deployed
    result = cli("setup.plan")
    assert result.code == 0, result.err
    assert result.err == ""
    assert mutating(http()) == []
    assert no_sleep.calls == []
    assert not (project.root / ".git").exists()
    assert project.upstream_git("for-each-ref") == ""
    out = sections(result.out)
    assert list(out) == STEPS  # every step appears
    assert change_lines(out["repo.create"]) == FRESH["repo.create"]
    assert change_lines(out["repo.init"]) == FRESH["repo.init"]
    assert change_lines(out["repo.push"]) == [
        "commit README.md, docs, .gitignore, my_mlops_project/resources/README.md (on main)",
        "push main to upstream",
    ]
    assert change_lines(out["ci.service-principals"]) == FRESH["ci.service-principals"]
    assert change_lines(out["ci.permissions"]) == [
        *FRESH["ci.permissions"][:3],
        *(f"{line} (application id known after creation)" for line in FRESH["ci.permissions"][3:]),
    ]
    later = STEPS[STEPS.index("ci.secrets") :]
    for step in later:
        assert out[step].splitlines()[0].startswith(f"  !   {step} cannot be previewed yet: "), step
    assert (
        f"  !   ci.secrets cannot be previewed yet: GitHub repo {REPO} does not exist (or this "
        "token cannot see it)" in out["ci.secrets"]
    )
    assert (
        f"  !   code.pr cannot be previewed yet: {P} is not a git repository yet" in out["code.pr"]
    )
    assert (
        "deploy.jobs cannot be previewed yet: jobs missing after the CD runs" in out["deploy.jobs"]
    )
    assert result.out.splitlines()[-2:] == [
        f"  !   {len(later)} steps cannot be previewed before the steps above run",
        "setup.plan: 16 to add, 0 to change, 0 to destroy",
    ]
    as_json = cli("setup.plan", "--json")
    assert as_json.code == 0, as_json.err
    document = json.loads(as_json.out)  # stdout holds the document and nothing else
    assert document["format_version"] == 1
    assert document["summary"] == {"add": 16, "change": 0, "destroy": 0}
    assert [s["name"] for s in document["steps"]] == STEPS
    results = {s["name"]: s["result"] for s in document["steps"]}
    assert {name for name, r in results.items() if r == "deferred"} == set(later)
    assert results["ci.prerequisites"] == "no changes"
    repo_create = document["steps"][STEPS.index("repo.create")]
    assert repo_create["changes"] == [
        {
            "kind": "create",
            "symbol": "+",
            "action": "create",
            "target": f"GitHub repo {REPO}",
            "detail": "private, in organisation",
        }
    ]
    secrets = document["steps"][STEPS.index("ci.secrets")]
    assert secrets["error"]["message"] == (
        f"GitHub repo {REPO} does not exist (or this token cannot see it)"
    )
    assert document["stopped"] is None and document["exit_code"] == 0


@pytest.mark.vcr
def test_plan_stops_where_an_apply_would(cli, project, world, http):
    """A step that fails although nothing before it would change is no "not yet": an apply
    would stop there too, so the preview says so and exits non-zero."""
    databricks_iam.set_workspace_admin(world, "prod", False)
    result = cli("setup.plan")
    assert result.code == 1
    assert mutating(http()) == []
    assert list(sections(result.out)) == ["ci.prerequisites"]
    err = result.err.splitlines()
    assert err[0] == "error: 1 prerequisite missing; nothing was changed"
    assert err[-1] == (
        "setup.plan: stopped at ci.prerequisites (step 1 of 15): an apply would stop there too"
    )
    as_json = cli("setup.plan", "--json")
    assert as_json.code == 1
    assert as_json.err == result.err
    document = json.loads(as_json.out)
    assert document["exit_code"] == 1
    assert document["stopped"]["step"] == "ci.prerequisites"
    assert [s["result"] for s in document["steps"]] == ["stopped"]
    assert document["steps"][0]["error"]["message"] == (
        "1 prerequisite missing; nothing was changed"
    )


# -------------------------------------------------------------------------------- setup.status


@pytest.mark.vcr
def test_status_on_a_fresh_world(cli, project, world, http):
    for env in ("staging", "prod"):
        databricks_jobs.remove_jobs(world, env)
    result = cli("setup.status")
    assert result.code == 1  # steps missing or blocked (README, "Exit codes")
    assert result.err.splitlines() == [
        "setup.status: 14 of 15 steps not done (5 missing, 9 blocked)"
    ]
    rows = status_rows(result.out)
    assert {k: v[0] for k, v in rows.items()} == {
        "ci.prerequisites": "done",
        "repo.create": "missing",
        "repo.init": "missing",
        "repo.push": "missing",
        "ci.service-principals": "missing",
        "ci.permissions": "missing",
        "ci.secrets": "blocked",
        "ci.workflow-permissions": "blocked",
        "code.pr": "blocked",
        "ci.workflows": "blocked",
        "ci.auth": "blocked",
        "release.branch": "blocked",
        "deploy.runs": "blocked",
        "deploy.jobs": "blocked",
        "handoff.issue": "blocked",
    }
    assert rows["ci.prerequisites"] == ("done", "3 in place")
    assert rows["repo.create"][1] == FRESH["repo.create"][0]
    assert rows["repo.init"][1] == f"{FRESH['repo.init'][0]} (+2 more)"
    assert (
        rows["ci.secrets"][1] == f"GitHub repo {REPO} does not exist (or this token cannot see it)"
    )
    assert rows["code.pr"][1] == f"{P} is not a git repository yet"
    assert rows["deploy.jobs"][1].startswith("jobs missing after the CD runs: ")
    checked = cli("setup.status", "--check")
    assert checked.code == 1
    assert checked.out == result.out
    assert checked.err == result.err
    document = json.loads(cli("setup.status", "--json").out)  # stdout: the document alone
    assert document["exit_code"] == 1
    assert document["counts"] == {
        "done": 1,
        "waiting": 0,
        "missing": 5,
        "drifted": 0,
        "blocked": 9,
    }
    assert [(step["name"], step["state"]) for step in document["steps"]] == [
        (name, state) for name, (state, _) in rows.items()
    ]
    assert document["steps"][0] == {
        "name": "ci.prerequisites",
        "state": "done",
        "detail": "3 in place",
    }
    assert mutating(http()) == []


@pytest.mark.vcr
def test_drift_shows_in_status_and_setup_all_puts_it_back(cli, project, world, http):
    checks_pass(world)
    assert cli("setup.all").code == 0
    # someone turns the workflow permissions back to read, and pauses the prod jobs
    github_actions.permissions(world)[REPO] = {
        "default_workflow_permissions": "read",
        "can_approve_pull_request_reviews": False,
    }
    databricks_jobs.pause_schedules(world, "prod")
    sent = len(mutating(http()))
    result = cli("setup.status", "--check")
    assert result.code == 1
    rows = status_rows(result.out)
    assert rows["ci.workflow-permissions"] == ("drifted", FRESH["ci.workflow-permissions"][0])
    assert rows["deploy.jobs"] == (
        "drifted",
        f"enable schedule of job prod-{P}-batch-inference-job (daily at 11:00 UTC) (+1 more)",
    )
    others = {
        k: v[0] for k, v in rows.items() if k not in ("ci.workflow-permissions", "deploy.jobs")
    }
    assert set(others.values()) == {"done"}
    assert result.err.splitlines() == ["setup.status: 2 of 15 steps not done (2 drifted)"]
    assert len(mutating(http())) == sent  # status only reads

    repaired = cli("setup.all")
    assert repaired.code == 0, repaired.err
    assert mutating(http())[sent:] == [
        f"PUT {GH}/actions/permissions/workflow",
        f"POST {PROD}/api/2.2/jobs/update",
        f"POST {PROD}/api/2.2/jobs/update",
    ]
    after = cli("setup.status", "--check")
    assert after.code == 0, after.err
    assert set(states(after.out).values()) == {"done"}


@pytest.mark.vcr
def test_release_behind_master_is_reported_not_promoted(cli, project, world, http):
    """Promoting main to prod is a decision (``invoke release --update``), not drift: a
    setup whose release branch is behind is done, with a warning."""
    checks_pass(world)
    assert cli("setup.all").code == 0
    (project.root / "docs" / "notes.md").write_text("notes\n")
    project.git("add", "-A")
    project.git("commit", "--quiet", "-m", "Docs")
    before = project.upstream_git("rev-parse", "main")
    project.git("push", "--quiet", "upstream", "main")
    after = project.upstream_git("rev-parse", "main")
    github_git.pushed(world, REPO, "main", before, after)
    sent = len(mutating(http()))
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    behind = (
        f"branch release is 1 commit behind main: prod runs older code ({before[:7]} < {after[:7]})"
    )
    assert f"  !   {behind}" in sections(again.out)["release.branch"]
    assert len(mutating(http())) == sent
    status = cli("setup.status", "--check")
    assert status.code == 0, status.err
    assert status_rows(status.out)["release.branch"] == ("done", behind)
    assert project.upstream_git("rev-parse", "release") == before


@pytest.mark.vcr
def test_review_required_waits_then_resumes_at_the_merge(cli, project, world, sent):
    checks_pass(world)
    github_pulls.protect(world, REPO, "main", reviews=1)
    result = cli("setup.all")
    assert result.code == 3  # waiting on a person, not broken
    assert list(sections(result.out))[-1] == "code.pr"
    err = result.err.splitlines()
    assert err[0] == (
        f"error: waiting for review: PR #1 needs 1 approving review, has 0: "
        f"https://github.com/{REPO}/pull/1"
    )
    assert err[-1] == (
        "setup.all: stopped at code.pr (step 9 of 15); run `invoke setup.all` again once that "
        "is done: it resumes there"
    )
    first = sent()
    status = states(cli("setup.status").out)
    assert status["code.pr"] == "waiting"
    assert {status[step] for step in STEPS[: STEPS.index("code.pr")]} == {"done"}
    github_pulls.add_review(world, REPO, 1, "data-scientist")
    resumed = cli("setup.all")
    assert resumed.code == 0, resumed.err
    out = sections(resumed.out)
    for step in STEPS[: STEPS.index("code.pr")]:
        assert change_lines(out[step]) == [], step
    assert change_lines(out["code.pr"]) == [
        "merge PR #1 add-ml-code -> main (merge, head "
        + project.git("rev-parse", "add-ml-code")[:7]
        + ")",
        "update local main from upstream (and check out main)",
    ]
    no_repeats(first, sent()[len(first) :])


# ------------------------------------------------------------------- resume after a failure


@dataclass
class Failure:
    step: str
    error: str  # the first line of the error
    make: Callable[[World], object]  # breaks the world; returns what fix needs
    fix: Callable[[World, object], None]  # what the operator (or someone) does about it


def _no_repo_creation(world: World) -> None:
    world.gh["create_denied"] = ["acme"]


def _repo_creation_allowed(world: World, _) -> None:
    world.gh["create_denied"] = []  # an owner of acme lets us create repos


def _grant_refused_once(world: World) -> None:
    world.queue(
        "PATCH",
        "/api/2.1/unity-catalog/permissions/catalog/prod",
        databricks_error(403, "PERMISSION_DENIED", "User does not have MANAGE on Catalog 'prod'."),
    )


def _manage_granted(world: World, _) -> None:
    pass  # the catalog's owner gives us MANAGE: the queued refusal was the last one


def _failing_check(world: World) -> None:
    github_pulls.set_checks(
        world, "add-ml-code", [*CHECKS[:2], ("unit_tests", "failure"), CHECKS[3]], pending=1
    )


def _check_rerun_passes(world: World, _) -> None:
    checks_pass(world)  # the flaky check is re-run on GitHub, and passes


def _refs_forbidden(world: World) -> None:
    world.gh["refs_forbidden"] = [REPO]


def _refs_allowed(world: World, _) -> None:
    world.gh["refs_forbidden"] = []  # a token that may push


def _prod_jobs_missing(world: World) -> object:
    saved = copy.deepcopy(databricks_jobs.jobs(world)[PROD_HOST])
    databricks_jobs.remove_jobs(world, "prod")
    return saved


def _prod_jobs_deployed(world: World, saved) -> None:
    databricks_jobs.jobs(world)[PROD_HOST] = saved  # the prod CD run is re-run: it deploys them


def _issues_disabled(world: World) -> None:
    world.gh["issues_disabled"] = [REPO]


def _issues_enabled(world: World, _) -> None:
    world.gh["issues_disabled"] = []  # Issues turned on in the repo settings


FAILURES = {
    "repo": Failure(
        "repo.create",
        f"error: GitHub refused to create {REPO} (403): you may not create repos in acme",
        _no_repo_creation,
        _repo_creation_allowed,
    ),
    "ci": Failure(
        "ci.permissions",
        f"error: workspace prod refused granting {GRANT} on catalog prod (403)",
        _grant_refused_once,
        _manage_granted,
    ),
    "code": Failure(
        "code.pr",
        "error: checks on PR #1 (0a37e46): 4 checks: 3 passed, 1 failed",
        _failing_check,
        _check_rerun_passes,
    ),
    "release": Failure(
        "release.branch",
        f"error: GitHub refused to create branch release on {REPO} (403): ",
        _refs_forbidden,
        _refs_allowed,
    ),
    "deploy": Failure(
        "deploy.jobs",
        f"error: jobs missing after the CD runs: prod-{P}-batch-inference-job (prod), ",
        _prod_jobs_missing,
        _prod_jobs_deployed,
    ),
    "handoff": Failure(
        "handoff.issue",
        f"error: issues are disabled in {REPO} (410)",
        _issues_disabled,
        _issues_enabled,
    ),
}


def no_repeats(first, second) -> None:
    """No write that succeeded in ``first`` is sent again in ``second``."""
    done = {(m, u) for m, u, status in first if m not in ("GET", "HEAD") and status < 400}
    repeated = [w for w in writes(second) if w in done]
    assert repeated == []


@pytest.mark.vcr
@pytest.mark.parametrize("section", list(FAILURES))
def test_resume_after_a_failure(section, cli, project, world, sent):
    failure = FAILURES[section]
    checks_pass(world)
    saved = failure.make(world)
    index = STEPS.index(failure.step)
    result = cli("setup.all")
    assert result.code == 1
    out = sections(result.out)
    assert list(out) == STEPS[: index + 1]  # stopped at the failing step
    err = result.err.splitlines()
    assert err[0].startswith(failure.error), err[0]
    assert err[-1] == (
        f"setup.all: stopped at {failure.step} (step {index + 1} of 15); run `invoke setup.all` "
        "again once that is fixed: it resumes there"
    )
    first = sent()

    failure.fix(world, saved)
    resumed = cli("setup.all")
    assert resumed.code == 0, resumed.err
    out = sections(resumed.out)
    assert list(out) == STEPS
    for step in STEPS[:index]:
        assert change_lines(out[step]) == [], step  # done before the failure: nothing to do
        assert f"{step}: no changes" in out[step]
    no_repeats(first, sent()[len(first) :])


# ------------------------------------------------------- the rules, on steps made up for them


def _step(name: str, plan):
    from mlops_setup.session import Step

    return Step(name, f"step {name}", plan)


def _planned(*, changes=(), kept=(), warnings=(), waiting=""):
    from mlops_setup.changes import Plan

    def plan(session, dry_run=False):
        made = Plan("x", kept=list(kept), warnings=list(warnings), waiting=waiting)
        for line in changes:
            action, target = line.split(" ", 1)
            made.add(action, target, lambda: None)
        return made

    return plan


def _raising(error: Exception):
    def plan(session, dry_run=False):
        raise error

    return plan


def _quiet_session():
    import io
    from types import SimpleNamespace

    from mlops_setup.console import Console

    buffer = io.StringIO()
    return SimpleNamespace(out=Console(stream=buffer, err=buffer)), buffer


def _github_500():
    from github import GithubException

    return GithubException(500, {"message": "Server Error"}, None)


def _setup_error(message: str):
    from mlops_setup.changes import SetupError

    return SetupError(message, fix="do this")


def _waiting(message: str):
    from mlops_setup.github_util import Waiting

    return Waiting(message, fix="wait")


@pytest.mark.parametrize(
    ("plan", "finished", "expected"),
    [
        (_planned(kept=["a", "b"]), False, ("done", "2 in place")),
        (_planned(kept=["a"], warnings=["w1", "w2"]), False, ("done", "w1 (+1 more)")),
        (
            _planned(kept=["a"], changes=["set b"], waiting="review of PR #1"),
            False,
            ("waiting", "review of PR #1"),
        ),
        (_planned(changes=["create a", "create b"]), False, ("missing", "create a (+1 more)")),
        (_planned(changes=["create b"], kept=["a"]), False, ("drifted", "create b")),
        (_planned(changes=["set a"]), True, ("drifted", "set a")),
        (_raising(_setup_error("no repo yet\nsecond line")), False, ("blocked", "no repo yet")),
        (_raising(_waiting("waiting for review")), False, ("waiting", "waiting for review")),
        (_raising(_github_500()), False, ("blocked", "GitHub API: 500: Server Error")),
        (_planned(changes=["set " + "x" * 200]), False, ("missing", "set " + "x" * 113 + "...")),
    ],
    ids=[
        "nothing-to-change",
        "done-with-warnings",
        "waiting-plan",
        "nothing-in-place",
        "partly-in-place",
        "after-a-finished-setup",
        "error",
        "waiting-error",
        "api-error",
        "clipped",
    ],
)
def test_step_status_rules(plan, finished, expected):
    from mlops_setup.guide import step_status

    session, _ = _quiet_session()
    assert step_status(session, _step("x", plan), finished=finished) == expected


def _run_all(monkeypatch, steps, *, dry_run):
    from mlops_setup import guide

    monkeypatch.setattr(guide, "guide_steps", lambda: steps)
    session, buffer = _quiet_session()
    try:
        guide.run_all(session, dry_run=dry_run)
    except guide.SetupError as exc:
        return buffer.getvalue(), exc
    return buffer.getvalue(), None


def test_plan_defers_a_step_only_after_one_that_would_change(monkeypatch):
    steps = [
        _step("a", _planned(kept=["a"])),
        _step("b", _planned(changes=["create b"])),
        _step("c", _raising(_setup_error("needs b"))),
        _step("d", _planned(changes=["set d"])),
    ]
    out, error = _run_all(monkeypatch, steps, dry_run=True)
    assert error is None
    assert "  !   c cannot be previewed yet: needs b" in out.splitlines()
    assert out.splitlines()[-2:] == [
        "  !   1 step cannot be previewed before the steps above run",
        "setup.plan: 2 to add, 0 to change, 0 to destroy",
    ]
    out, error = _run_all(monkeypatch, [steps[0], steps[2], steps[3]], dry_run=True)
    assert error is not None  # nothing before c would change: an apply stops there too
    assert (
        error.lines()[-1] == "setup.plan: stopped at c (step 2 of 3): an apply would stop there too"
    )
    assert "== d: step d ==" not in out


def test_all_names_the_step_it_stopped_at_and_keeps_its_exit_code(monkeypatch):
    steps = [
        _step("a", _planned(changes=["create a"])),
        _step("b", _raising(_waiting("waiting for review"))),
        _step("c", _planned(changes=["create c"])),
    ]
    out, error = _run_all(monkeypatch, steps, dry_run=False)
    assert "== c: step c ==" not in out
    assert error.exit_code == 3
    assert error.lines() == [
        "error: waiting for review",
        "  fix: wait",
        "setup.all: stopped at b (step 2 of 3); run `invoke setup.all` again once that is done: "
        "it resumes there",
    ]
    steps[1] = _step("b", _raising(_github_500()))  # an API error nobody translated
    out, error = _run_all(monkeypatch, steps, dry_run=False)
    assert error.exit_code == 1
    assert error.lines() == [
        "error: GitHub API: 500: Server Error",
        "  fix: see the runbook page of this step",
        "setup.all: stopped at b (step 2 of 3); run `invoke setup.all` again once that is fixed: "
        "it resumes there",
    ]


def test_every_key_of_the_json_documents_is_documented():
    """runbook/reference.md describes the --json documents: every key they hold is named there."""
    from mlops_setup.changes import Change, Plan
    from mlops_setup.guide import _Ran, plan_document, status_document
    from mlops_setup.session import Step

    page = (ROOT / "runbook" / "reference.md").read_text().split("## JSON output", 1)[1]
    plan = Plan("repo.create", changes=[Change("create", "GitHub repo a/b")])
    ran = [_Ran(plan, step=Step("repo.create", "the GitHub repository", lambda s: plan))]
    keys: set[str] = set()

    def collect(value) -> None:
        if isinstance(value, dict):
            keys.update(value)
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(plan_document(ran))
    collect(status_document([("ci.prerequisites", "done", "")], 0))
    for key in sorted(keys):
        assert f'"{key}"' in page or f"`{key}`" in page, key


# ----------------------------------------------------------------------- linked SPs, any cloud


@pytest.mark.vcr
def test_linked_sps_create_nothing_and_the_setup_finishes(cli, project, world, http):
    """Service principals made elsewhere, named by application id: the whole guide runs with
    them, none is created, and the re-run changes nothing."""
    checks_pass(world)
    staging = databricks_iam.add_service_principal(
        world, "central-staging", assigned_to=("staging",)
    )
    prod = databricks_iam.add_service_principal(world, "central-prod", assigned_to=("prod",))
    project.write_config(
        databricks={
            "service_principals": {
                "staging": {"application_id": staging["applicationId"]},
                "prod": {"application_id": prod["applicationId"]},
            }
        }
    )
    result = cli("setup.all")
    assert result.code == 0, result.err
    out = sections(result.out)
    assert change_lines(out["ci.service-principals"]) == []
    assert "SP central-prod is linked" in out["ci.service-principals"]
    assert change_lines(out["ci.permissions"])[-3:] == [
        f"grant {GRANT} on catalog staging to SP central-staging",
        f"grant {GRANT} on catalog prod to SP central-prod",
        f"grant {GRANT} on catalog test to SP central-staging",
    ]
    assert change_lines(out["ci.secrets"])[:2] == [
        "mint token for SP central-staging (lifetime 90 days)",
        "set secret STAGING_WORKSPACE_TOKEN",
    ]
    made = mutating(http())
    assert not [u for u in made if "ServicePrincipals" in u]  # none created
    sent = len(made)
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert again.out.splitlines()[-1] == "setup.all: no changes"
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_full_setup_of_a_hyphenated_project(cli, project, world, http, no_sleep):
    """`churn-model` (folder `churn_model`): workflows, jobs, SPs, schema, the repo and
    deploy-cicd's input use the name as typed; paths use the folder."""
    project.regenerate(name="churn-model")
    world.db["project"] = "churn-model"  # what its bundle deploys (the fake's jobs)
    checks_pass(world)
    result = cli("setup.all")
    assert result.code == 0, result.err
    out = sections(result.out)
    repo = "acme/churn-model"
    assert f"created GitHub repo {repo} (private, in organisation)" in out["repo.create"]
    assert (
        "committed README.md, docs, .gitignore, churn_model/resources/README.md "
        "(first commit on main)"
    ) in out["repo.push"]
    assert "created SP staging-churn-model (in the account)" in out["ci.service-principals"]
    assert "created schema prod.churn-model (workspace prod)" in out["ci.permissions"]
    assert "churn-model-bundle-cd-staging.yml run #1 succeeded" in out["deploy.runs"]
    for env in ("staging", "prod"):
        for kind in ("batch-inference", "model-training"):
            assert f"job {env}-churn-model-{kind}-job scheduled" in out["deploy.jobs"]
    on_main = project.upstream_git("ls-tree", "-r", "--name-only", "main").splitlines()
    assert ".github/workflows/churn-model-bundle-ci.yml" in on_main
    assert "churn_model/databricks.yml" in on_main
    made = mutating(http())
    assert made[-1] == f"POST https://api.github.com/repos/{repo}/issues"
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert len(mutating(http())) == len(made)  # a finished setup sends no mutating request


# ------------------------------------------------------------------------ the other clouds


def _entra_sps() -> list[str]:
    return [
        line
        for env in ("staging", "prod")
        for line in (
            f"create Entra app {env}-{P} (tagged)",
            f"create Entra SP of app {env}-{P}",
            f"create SP {env}-{P} (in the account)",
            f"assign SP {env}-{P} to workspace {env} (USER)",
        )
    ]


def _azure_secrets() -> list[str]:
    return [
        *(
            line
            for env in ("staging", "prod")
            for line in (
                f"add client secret to app {env}-{P} (lifetime 90 days)",
                *(
                    f"set secret {env.upper()}_AZURE_SP_{key}"
                    for key in ("CLIENT_SECRET", "TENANT_ID", "APPLICATION_ID")
                ),
            )
        ),
        "set secret WORKFLOW_TOKEN (from $WORKFLOW_TOKEN)",
    ]


# Azure (the template's default cloud): Entra ID apps behind the SPs, client secrets as the six
# *_AZURE_SP_* secrets; every other step as on AWS, at the Azure hosts.
AZURE = {**FRESH, "ci.service-principals": _entra_sps(), "ci.secrets": _azure_secrets()}


def assert_made(result, project, expected: dict[str, list[str]]) -> None:
    """``setup.all`` succeeded, ran every step in order and changed exactly ``expected`` (step ->
    change lines; ``{main}`` stands for the default branch's SHA). Every change creates
    something but three updates in place: the workflow permissions, the ML code's merge and
    the local main's update."""
    assert result.code == 0, result.err
    assert result.err == ""
    out = sections(result.out)
    assert list(out) == STEPS
    for step in STEPS:
        lines = [x.format(main=master_sha(project)) for x in expected[step]]
        assert change_lines(out[step]) == lines, step
    total = sum(len(v) for v in expected.values())
    assert result.out.splitlines()[-1] == f"setup.all: {total - 3} added, 3 changed, 0 destroyed"


def run_whole_setup(cli, project, http, no_sleep, expected: dict[str, list[str]]) -> None:
    """setup.all from nothing changes exactly ``expected``; a re-run and setup.status then send
    no mutating request, wait for nothing, and find every step done."""
    result = cli("setup.all")
    assert_made(result, project, expected)
    assert project.upstream_git("rev-parse", "release") == project.upstream_git("rev-parse", "main")
    assert project.git("status", "--porcelain") == ""
    sent, slept = len(mutating(http())), len(no_sleep.calls)
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert again.out.splitlines()[-1] == "setup.all: no changes"
    assert len(mutating(http())) == sent  # a finished setup sends no mutating request
    assert len(no_sleep.calls) == slept
    status = cli("setup.status", "--check")
    assert status.code == 0, status.err
    assert set(states(status.out).values()) == {"done"}
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_azure_full_setup_then_rerun_changes_nothing(cli, project, world, http, no_sleep):
    from tests.fakeapi import graph_apps

    project.regenerate(cloud="azure")
    graph_apps.azure_workspaces(world)  # the fake's workspaces at the Azure project's hosts
    checks_pass(world)
    run_whole_setup(cli, project, http, no_sleep, AZURE)
    made = mutating(http())
    account = "https://accounts.azuredatabricks.net/api/2.0/accounts/"
    assert sum(u.startswith(f"POST {account}") for u in made) == 2  # the two SPs
    graph = [u for u in made if "graph.microsoft.com" in u]
    assert len(graph) == 6  # per environment: app, its tenant SP, one client secret
    assert not any("token-management" in u for u in made)  # no PAT on Azure
    kept = cli("ci.secrets", "--dry-run").out  # the six secrets, each client secret's expiry
    for env in ("STAGING", "PROD"):
        app = f"{env.lower()}-{P}"
        assert f"ok  secret {env}_AZURE_SP_CLIENT_SECRET holds client secret " in kept
        assert f"of app {app} (expires 2026-05-31)" in kept
        for key in ("TENANT_ID", "APPLICATION_ID"):
            assert f"ok  secret {env}_AZURE_SP_{key} exists" in kept
    assert len(mutating(http())) == len(made)


# GCP: personal access tokens on behalf of the SPs, as on AWS, at the GCP hosts.
GCP = FRESH


@pytest.mark.vcr
def test_gcp_full_setup_then_rerun_changes_nothing(cli, project, world, http, no_sleep):
    project.regenerate(cloud="gcp")
    databricks_iam.cloud_workspaces(world, "gcp")
    checks_pass(world)
    run_whole_setup(cli, project, http, no_sleep, GCP)
    made = mutating(http())
    account = "https://accounts.gcp.databricks.com/api/2.0/accounts/"
    assert sum(u.startswith(f"POST {account}") for u in made) == 2  # the two SPs
    for env, ws in (("staging", "3141592653589793.3"), ("prod", "2718281828459045.5")):
        host = f"https://{ws}.gcp.databricks.com"
        assert f"POST {host}/api/2.0/token-management/on-behalf-of/tokens" in made, env
    assert not any("graph.microsoft.com" in u or "cloud.databricks.com" in u for u in made)


@pytest.mark.vcr
@pytest.mark.parametrize("mode", ["oauth", "oidc"])
def test_auth_mode_full_setup_then_rerun_sends_no_mutating_request(
    cli, project, world, http, no_sleep, mode
):
    """ci.auth_mode oauth/oidc from nothing to a finished setup: no workspace token anywhere,
    the ML code PR carries the rewritten workflows, and a re-run and setup.status change
    nothing."""
    project.write_config(ci={"auth_mode": mode})
    checks_pass(world)
    result = cli("setup.all")
    assert result.code == 0, result.err
    out = sections(result.out)
    assert list(out) == STEPS
    made = mutating(http())
    assert not any("token-management" in u or "WORKSPACE_TOKEN" in u for u in made)
    assert (
        f"updated .github/workflows/{P}-bundle-cd-prod.yml for {mode} credentials" in out["code.pr"]
    )
    assert change_lines(out["ci.auth"]) == []
    cd_prod = project.upstream_git("show", f"release:.github/workflows/{P}-bundle-cd-prod.yml")
    if mode == "oidc":
        assert "environment: prod" in cd_prod and "github-oidc" in cd_prod
        assert not any("/actions/secrets/PROD_" in u for u in made)
    else:
        assert "${{ secrets.PROD_DATABRICKS_CLIENT_SECRET }}" in cd_prod
    sent, slept = len(made), len(no_sleep.calls)
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert again.out.splitlines()[-1] == "setup.all: no changes"
    assert len(mutating(http())) == sent
    assert len(no_sleep.calls) == slept
    status = cli("setup.status", "--check")
    assert status.code == 0, status.err
    assert set(states(status.out).values()) == {"done"}
    assert f"{mode} in force on main" in status.out
    assert len(mutating(http())) == sent
