"""Guide section "Deploy ML resources and enable production jobs": deploy.runs, deploy.jobs."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from mlops_setup.example import PROJECT_WORKFLOWS, project_files
from mlops_setup.sections.deploy import describe_schedule, next_daily_run
from tests.conftest import mutating
from tests.fakeapi import databricks_jobs, databricks_uc, github_git
from tests.test_handoff import sent_bodies
from tests.test_repo import change_lines

P = "my-mlops-project"
REPO = f"acme/{P}"
UPDATE = "https://{env}.cloud.databricks.com/api/2.2/jobs/update"
RUNS = f"https://github.com/{REPO}/actions/runs"


def commit_and_push(project, world, message: str, files: dict[str, bytes]) -> str:
    """A commit on main pushed with local git; the fake GitHub starts the runs it would."""
    for rel, data in files.items():
        path = project.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    before = project.upstream_git("rev-parse", "main")
    project.git("add", "-A")
    project.git("commit", "--quiet", "-m", message)
    project.git("push", "--quiet", "upstream", "main")
    after = project.upstream_git("rev-parse", "main")
    github_git.pushed(world, REPO, "main", before, after)
    return after


def released(cli, project, world, *, paths_filter: bool = False) -> None:
    """What the earlier steps leave: docs pushed (repo), the ML code and the CD workflows
    merged to main (ci.workflows, code: GitHub runs the staging CD), release cut from main
    (release: GitHub runs the prod CD). With ``paths_filter`` the CD workflows run only for
    changes under the project folder (the template's run on every push; some teams add it)."""
    assert cli("repo").code == 0
    workflows = {rel: project_files(P, with_cicd=True)[rel] for rel in PROJECT_WORKFLOWS(P)}
    if paths_filter:
        for rel, data in workflows.items():
            if "-bundle-cd-" in rel:
                text = data.decode()
                text, n = re.subn(
                    r"(\n    branches:\n(?:      - .*\n)+)",
                    r"\1    paths:\n      - 'my_mlops_project/**'\n"
                    r"      - '.github/workflows/**'\n",
                    text,
                    count=1,
                )
                assert n == 1, text
                workflows[rel] = text.encode()
    commit_and_push(project, world, "Add the ML code and the CI/CD workflows", workflows)
    assert cli("release").code == 0


def tables_exist(world, *envs: str) -> None:
    """The operator set a real input table for the batch job (the template's TODO), it was
    deployed, and it exists in ``envs``."""
    world.db["input_table_qualified"] = True
    for env in envs or ("staging", "prod"):
        databricks_uc.add_table(world, databricks_jobs.input_table(env))


def job(env: str, kind: str) -> str:
    return f"{env}-{P}-{kind}-job"


# ------------------------------------------------------------------------- the whole section


@pytest.mark.vcr
def test_fresh_run_waits_for_the_cd_runs_then_checks_the_jobs(cli, project, world, http, no_sleep):
    released(cli, project, world)
    tables_exist(world)
    sent = len(mutating(http()))
    main = project.upstream_git("rev-parse", "main")[:7]
    result = cli("deploy")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    lines = [line.strip() for line in result.out.splitlines()]
    assert lines[:4] == [
        "== deploy.runs: the bundle CD runs for staging and prod ==",
        f"..  staging CD run #1: queued: https://github.com/acme/{P}/actions/runs/30433642",
        "..  staging CD run #1: in_progress after 5s",
        "..  staging CD run #1: completed, success after 15s",
    ]
    assert f"ok  staging: {P}-bundle-cd-staging.yml run #1 succeeded (main at {main})" in lines
    assert f"ok  prod: {P}-bundle-cd-prod.yml run #2 succeeded (release at {main})" in lines
    assert f"ok  job prod-{P}-batch-inference-job scheduled daily at 11:00 UTC" in lines
    assert "deploy.jobs: no changes" in lines
    assert no_sleep.calls == [5, 10, 5, 10]
    assert len(mutating(http())) == sent  # deploy itself changes nothing here


@pytest.mark.vcr
def test_rerun_changes_nothing(cli, project, world, http, no_sleep):
    released(cli, project, world)
    tables_exist(world)
    assert cli("deploy", "--enable").code == 0
    sent, slept = len(mutating(http())), len(no_sleep.calls)
    again = cli("deploy", "--enable")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert "..  " not in again.out  # the runs are done: no waiting
    assert "deploy.runs: no changes" in again.out
    assert "deploy.jobs: no changes" in again.out
    assert len(mutating(http())) == sent
    assert len(no_sleep.calls) == slept


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http, no_sleep):
    released(cli, project, world)
    tables_exist(world)
    databricks_jobs.pause_schedules(world, "prod")
    sent = len(mutating(http()))
    plan = cli("deploy", "--enable", "--dry-run")
    assert plan.code == 0, plan.err
    assert len(mutating(http())) == sent
    assert no_sleep.calls == []  # a dry run never waits
    assert ">   staging CD run #1 is queued: an apply waits for it" in plan.out
    assert ">   prod CD run #2 is queued: an apply waits for it" in plan.out
    applied = cli("deploy", "--enable")
    assert applied.code == 0, applied.err
    assert (
        change_lines(plan.out)
        == change_lines(applied.out)
        == [
            f"enable schedule of job prod-{P}-batch-inference-job (daily at 11:00 UTC)",
            f"enable schedule of job prod-{P}-model-training-job (daily at 09:00 UTC)",
        ]
    )
    assert mutating(http())[sent:] == [f"POST {UPDATE.format(env='prod')}"] * 2


@pytest.mark.vcr
def test_failed_cd_run_is_explained_with_its_url(cli, project, world, http):
    assert cli("repo").code == 0
    workflows = {rel: project_files(P, with_cicd=True)[rel] for rel in PROJECT_WORKFLOWS(P)}
    commit_and_push(project, world, "Add the ML code and the CI/CD workflows", workflows)
    world.gh["next_push_run"] = {"conclusion": "failure", "polls": 0}
    assert cli("release").code == 0
    result = cli("deploy")
    assert result.code == 1
    assert "..  staging CD run #1: completed, success" in result.out
    assert "..  prod CD run #2: completed, failure" in result.out
    assert f"error: the prod deploy ({P}-bundle-cd-prod.yml run #2) ended failure" in result.err
    assert f"  run: {RUNS}/30433643" in result.err
    assert "  failing job: cicd at step " in result.err
    assert "deploy.jobs" not in result.out  # stops before checking jobs


@pytest.mark.vcr
def test_docs_only_pushes_need_no_cd_run(cli, project, world, http, no_sleep):
    released(cli, project, world, paths_filter=True)
    code = project.upstream_git("rev-parse", "main")
    # GitHub starts no CD run for these (paths: my_mlops_project/**): the last runs still cover
    docs = commit_and_push(project, world, "Docs", {"docs/notes.md": b"notes\n"})
    assert cli("release", "--update").code == 0
    tables_exist(world)
    result = cli("deploy")
    assert result.code == 0, result.err
    for env, branch, number in (("staging", "main", 1), ("prod", "release", 2)):
        assert (
            f"ok  {env}: {P}-bundle-cd-{env}.yml run #{number} succeeded "
            f"({branch} at {code[:7]}, covers {docs[:7]})"
        ) in result.out


@pytest.mark.vcr
def test_missing_cd_run_is_explained(cli, project, world, http, no_sleep):
    project.write_config(ci={"wait_timeout": 30})
    released(cli, project, world)
    # a code change GitHub started no run for (Actions down, or a push GitHub missed)
    (project.root / "my_mlops_project" / "training" / "Train.py").write_text("# v2\n")
    project.git("commit", "--quiet", "-am", "Train v2")
    project.git("push", "--quiet", "upstream", "main")
    head = project.upstream_git("rev-parse", "main")[:7]
    result = cli("deploy")
    assert result.code == 1
    assert f"..  staging CD run for {head}: not started yet\n" in result.out  # once, not per look
    assert no_sleep.calls[-3:] == [5, 10, 15]  # bounded by ci.wait_timeout
    assert (
        f"error: GitHub started no {P}-bundle-cd-staging.yml run for main at {head} "
        "within 30s (it starts one on every push to main)"
    ) in result.err
    assert f"`gh workflow run {P}-bundle-cd-staging.yml --ref main`" in result.err


@pytest.mark.vcr
def test_cd_workflows_not_merged_yet(cli, project, world, http):
    assert cli("repo").code == 0
    assert cli("release").code == 0
    result = cli("deploy")
    assert result.code == 1
    assert f"error: workflow {P}-bundle-cd-staging.yml is not on main of {REPO}" in result.err
    assert "run `invoke ci.workflows`" in result.err


# --------------------------------------------------------------------------------- deploy.jobs


@pytest.mark.vcr
def test_jobs_scheduled_are_reported_with_when(cli, project, world, http):
    tables_exist(world)
    result = cli("deploy.jobs")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    for env in ("staging", "prod"):
        assert f"ok  job {job(env, 'model-training')} scheduled daily at 09:00 UTC" in result.out
        assert f"ok  job {job(env, 'batch-inference')} scheduled daily at 11:00 UTC" in result.out
        assert f"ok  table {env}.{P}.feature_store_inference_input exists" in result.out
    # the jobs in place said when they run above: the note does not list them again
    assert "  >   these jobs now run on their schedules; nobody needs to start them\n" in result.out
    assert f">     {job('prod', 'model-training')}" not in result.out
    assert "deploy.jobs: no changes" in result.out
    assert mutating(http()) == []


@pytest.mark.vcr
def test_paused_schedules_are_reported_not_changed(cli, project, world, http):
    tables_exist(world)
    databricks_jobs.pause_schedules(world, "prod")
    result = cli("deploy.jobs")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert (
        f"!   job {job('prod', 'model-training')}: schedule paused, it does not run "
        "(daily at 09:00 UTC)"
    ) in result.out
    assert "`invoke deploy --enable` turns the paused schedules on" in result.out
    assert f"{job('prod', 'batch-inference')}: daily" not in result.out  # not said to run
    assert mutating(http()) == []


@pytest.mark.vcr
def test_enable_dry_run_lists_exactly_what_apply_does(cli, project, world, http, vcr, fake_api):
    tables_exist(world)
    databricks_jobs.pause_schedules(world, "prod")
    databricks_jobs.pause_schedules(world, "staging", "batch-inference")
    plan = cli("deploy.jobs", "--enable", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "deploy.jobs: 0 to add, 3 to change, 0 to destroy" in plan.out
    applied = cli("deploy.jobs", "--enable")
    assert applied.code == 0, applied.err
    assert (
        change_lines(plan.out)
        == change_lines(applied.out)
        == [
            f"enable schedule of job {job('staging', 'batch-inference')} (daily at 11:00 UTC)",
            f"enable schedule of job {job('prod', 'batch-inference')} (daily at 11:00 UTC)",
            f"enable schedule of job {job('prod', 'model-training')} (daily at 09:00 UTC)",
        ]
    )
    assert mutating(http()) == [
        f"POST {UPDATE.format(env='staging')}",
        f"POST {UPDATE.format(env='prod')}",
        f"POST {UPDATE.format(env='prod')}",
    ]
    # the whole schedule object goes in new_settings (top-level fields are replaced whole)
    bodies = sent_bodies(vcr, fake_api, "POST", UPDATE.format(env="prod"))
    assert bodies[1] == {
        "job_id": databricks_jobs.JOB_IDS["prod", "model-training"],
        "new_settings": {
            "schedule": {
                "quartz_cron_expression": "0 0 9 * * ?",
                "timezone_id": "UTC",
                "pause_status": "UNPAUSED",
            }
        },
    }
    assert "a bundle deploy resets schedules to my_mlops_project/resources/*.yml" in applied.out
    assert ">   once applied, these jobs run on their schedules" in plan.out
    sent = len(mutating(http()))
    again = cli("deploy.jobs", "--enable")  # re-run: all on, nothing to change
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_missing_jobs_are_an_error(cli, project, world, http):
    tables_exist(world)
    databricks_jobs.remove_jobs(world, "prod")
    databricks_jobs.remove_jobs(world, "staging", "batch-inference")
    result = cli("deploy.jobs", "--enable")
    assert result.code == 1
    assert (
        f"error: jobs missing after the CD runs: {job('staging', 'batch-inference')} "
        f"(staging), {job('prod', 'batch-inference')} (prod), {job('prod', 'model-training')} "
        "(prod)"
    ) in result.err
    assert "`invoke deploy.runs`" in result.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_missing_input_table_is_a_warning_with_the_fix(cli, project, world, http):
    tables_exist(world, "staging")
    result = cli("deploy.jobs")
    assert result.code == 0, result.err
    table = f"prod.{P}.feature_store_inference_input"
    runs_as = databricks_jobs.DEPLOYERS["prod"]
    assert (
        f"!   table {table} is missing (Schema 'prod.{P}' does not exist.): "
        f"{job('prod', 'batch-inference')} will fail when it runs (daily at 11:00 UTC)"
    ) in result.out
    assert (
        f"!   fix: create it (see my_mlops_project/deployment/batch_inference/README.md), "
        "then `invoke ci.permissions`\n"
        f"  !   or in prod: GRANT SELECT ON TABLE {table} TO `{runs_as}`\n"
    ) in result.out
    assert mutating(http()) == []


# ------------------------------------------------------------------------------ schedules


@pytest.mark.parametrize(
    ("expression", "timezone", "words"),
    [
        ("0 0 9 * * ?", "UTC", "daily at 09:00 UTC"),
        ("0 30 11 ? * *", "Europe/Amsterdam", "daily at 11:30 Europe/Amsterdam"),
        ("0 0 6 ? * MON", "UTC", "every Monday at 06:00 UTC"),
        ("0 0 6 ? * MON-FRI", "UTC", "Monday to Friday at 06:00 UTC"),
        ("0 15 2 1 * ?", "UTC", "monthly on day 1 at 02:15 UTC"),
        ("0 5 * * * ?", "UTC", "every hour at minute 05 (UTC)"),
        ("0 0/15 * * * ?", "UTC", "on the quartz schedule `0 0/15 * * * ?` (UTC)"),
        ("0 0 9 * * ? 2027", "UTC", "on the quartz schedule `0 0 9 * * ? 2027` (UTC)"),
        ("0 0 9 ? * MON,WED", "UTC", "on the quartz schedule `0 0 9 ? * MON,WED` (UTC)"),
        ("nonsense", "UTC", "on the quartz schedule `nonsense` (UTC)"),
    ],
)
def test_schedules_in_plain_words(expression, timezone, words):
    assert describe_schedule(expression, timezone) == words


def test_next_daily_run():
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    assert next_daily_run("0 0 9 * * ?", "UTC", now) == "2026-03-03 09:00 UTC"
    assert next_daily_run("0 0 11 * * ?", "UTC", now) == "2026-03-02 11:00 UTC"
    assert next_daily_run("0 0 9 * * ?", "Europe/Amsterdam", now) == (
        "2026-03-03 09:00 Europe/Amsterdam"  # 10:00 there now
    )
    assert next_daily_run("0 0 6 ? * MON", "UTC", now) == ""
