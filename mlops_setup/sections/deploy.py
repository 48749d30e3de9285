"""Guide section "Deploy ML resources and enable production jobs".

Nothing here deploys: the project's own CD workflows do (``<p>-bundle-cd-staging.yml`` on a
push to the default branch, ``<p>-bundle-cd-prod.yml`` on a push to ``release``). This section
makes sure they did, and that what they deployed will run.

* ``deploy.runs``: for staging and prod, the CD run for the branch's current head commit is
  found and waited for (bounded backoff, one progress line per poll); a failed run is an error
  naming the run, its failing job and URL. If no run exists for the head (GitHub starts one only
  when a push changes ``<p>/**``), the newest run on the branch counts when the commits since
  then change nothing under ``<p>/``; otherwise it is waited for a few minutes, then explained
  (``gh workflow run ...``). A dry run never waits: it says what it would wait for.
* ``deploy.jobs``: in each workspace, ``<target>-<p>-model-training-job`` and
  ``<target>-<p>-batch-inference-job`` exist (missing ones are an error) and their schedules are
  on. A paused schedule is reported; ``--enable`` turns it on (``jobs/update`` with the whole
  ``schedule`` object, as the Jobs API replaces top-level fields whole). The batch inference
  job's input table (the job's own ``input_table_name`` parameter, else
  ``unity_catalog.batch_inference.input_table``) must exist: if not, a warning with the exact
  fix (create it, grant ``SELECT`` to the identity the job runs as). Then the operator is told
  that the jobs now run by themselves, and when (quartz cron in plain words).

Bundle-deployed jobs are ``UI_LOCKED`` and the next deploy resets them to the bundle: a
schedule enabled here stays on only if ``<p>/resources/*.yml`` does not say ``PAUSED``.

Finding the run for a commit (the newest runs on the branch, any event, matched by head SHA)
is local to this module; :mod:`mlops_setup.github_util` does the waiting and the failure
report. Databricks errors (401, 403, no connection) are explained by
:class:`mlops_setup.databricks_util.ApiErrors`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from invoke import Collection, task

from .. import ENVIRONMENTS
from ..changes import Plan, SetupError, bare_input_key, first_line, without_project
from ..session import DRY_RUN_HELP, Session, Step, open_session, run_step
from .release import branch_sha, github_repo

PAGE = "deploy.md"
JOB_KINDS = ("model-training", "batch-inference")
APPEAR_TIMEOUT = 300  # seconds to wait for GitHub to start a CD run after a push
ENABLE_HELP = "Turn on paused schedules of the deployed jobs."


# ---------------------------------------------------------------------------- deploy.runs


def cd_workflow(settings: Any, env: str) -> str:
    return f"{settings.project.name}-bundle-cd-{env}.yml"


def cd_branch(settings: Any, env: str) -> str:
    gh = settings.github
    return gh.default_branch if env == "staging" else gh.release_branch


def _workflow(session: Session, repo: Any, env: str) -> Any:
    from github import UnknownObjectException

    settings = session.settings
    name = cd_workflow(settings, env)
    try:
        workflow = repo.get_workflow(name)
        state = workflow.state
    except UnknownObjectException:
        raise SetupError(
            f"workflow {name} is not on {settings.github.default_branch} of "
            f"{settings.github.full_name}",
            fix="run `invoke ci.workflows` (it runs deploy-cicd.yml and merges its pull "
            "request, which adds the CD workflows)",
            page=PAGE,
        ) from None
    if state != "active":
        raise SetupError(
            f"workflow {name} is {state}: GitHub starts no runs of it",
            fix=f"enable it (Actions tab, or `gh workflow enable {name}`), then run again",
            page=PAGE,
        )
    return workflow


RUNS_LOOKED_AT = 30  # newest runs of a CD workflow read to find the one for a commit


def _runs_on(workflow: Any, branch: str, sha: str) -> tuple[Any | None, Any | None]:
    """(the newest run for commit ``sha``, the newest run at all) on ``branch``, any event.

    Matched here rather than with the ``head_sha`` query parameter, so that one listing also
    gives the newest run (see :func:`_deploying_run`); the newest runs of a CD workflow are
    few, and only the first page is read unless the commit's run is older than that."""
    newest = None
    for index, run in enumerate(workflow.get_runs(branch=branch)):  # newest first
        newest = newest or run
        if run.head_sha == sha:
            return run, newest
        if index + 1 >= RUNS_LOOKED_AT:
            break
    return None, newest


def _deploying_run(session: Session, repo: Any, workflow: Any, branch: str, sha: str) -> Any:
    """The run that deploys ``branch`` at ``sha``: its own, or the newest one if no commit
    since that run's head changed ``<p>/`` (GitHub starts none for such pushes); else None."""
    own, newest = _runs_on(workflow, branch, sha)
    if own is not None or newest is None:
        return own
    comparison = repo.compare(newest.head_sha, sha)
    if comparison.status != "ahead":
        return None
    prefix = f"{session.settings.project.folder}/"
    if any(f.filename.startswith(prefix) for f in comparison.files):
        return None
    return newest


def plan_runs(session: Session, dry_run: bool = False) -> Plan:
    settings = session.settings
    plan = Plan("deploy.runs")
    if without_project(session.settings, plan, "CD runs to wait for"):
        return plan
    repo = github_repo(session)
    waiting = []
    for env in ENVIRONMENTS:
        branch = cd_branch(settings, env)
        sha = branch_sha(session, repo, branch)
        if sha is None:
            step = "release" if env == "prod" else "repo"
            raise SetupError(
                f"no branch {branch} on GitHub, so nothing deploys to {env}",
                fix=f"run `invoke {step}` first",
                page=PAGE,
            )
        workflow = _workflow(session, repo, env)
        name = cd_workflow(settings, env)
        run = _deploying_run(session, repo, workflow, branch, sha)
        if dry_run:
            if run is None or run.status != "completed":
                what = (
                    f"no {env} CD run for {branch} at {sha[:7]} yet"
                    if run is None
                    else f"{env} CD run #{run.run_number} is {run.status}"
                )
                waiting.append(what)
                plan.note(f"{what}: an apply waits for it")
                continue
        else:
            if run is None:
                run = _wait_for_start(session, workflow, env, branch, sha)
            if run.status != "completed":
                from ..github_util import wait_for_run

                run = wait_for_run(session, run, what=f"{env} CD run #{run.run_number}", page=PAGE)
        if run.conclusion != "success":
            from ..github_util import run_failure

            raise run_failure(run, f"the {env} deploy ({name} run #{run.run_number})", PAGE)
        at = run.head_sha[:7] + ("" if run.head_sha == sha else f", covers {sha[:7]}")
        plan.keep(f"{env}: {name} run #{run.run_number} succeeded ({branch} at {at})")
    if waiting:
        plan.waiting = "; ".join(waiting)  # read by setup.status
    return plan


def _wait_for_start(session: Session, workflow: Any, env: str, branch: str, sha: str) -> Any:
    from ..backoff import WaitTimeout

    name = cd_workflow(session.settings, env)
    timeout = min(session.settings.ci.wait_timeout, APPEAR_TIMEOUT)

    def on_wait(attempt: int, delay: float) -> None:
        session.out.wait(f"{env} CD run for {sha[:7]}", "not started yet", next_in=delay)

    try:
        return session.backoff(timeout=timeout).until(
            lambda: _runs_on(workflow, branch, sha)[0], f"a run of {name}", on_wait=on_wait
        )
    except WaitTimeout as exc:
        raise SetupError(
            f"GitHub started no {name} run for {branch} at {sha[:7]} within "
            f"{exc.waited:.0f}s (it starts one on every push to {branch})",
            fix=f"start it by hand: `gh workflow run {name} --ref {branch}` (or Actions, "
            f"{name}, Run workflow), then run `invoke deploy` again",
            page=PAGE,
        ) from None


# ----------------------------------------------------------------------------- deploy.jobs

_DAYS = {
    "MON": "Monday",
    "TUE": "Tuesday",
    "WED": "Wednesday",
    "THU": "Thursday",
    "FRI": "Friday",
    "SAT": "Saturday",
    "SUN": "Sunday",
}


def describe_schedule(expression: str, timezone: str) -> str:
    """A quartz cron expression in plain words: ``daily at 09:00 UTC``; anything beyond the
    simple shapes (daily, weekly, monthly, hourly) is shown as the expression itself."""
    fields = expression.split()
    fallback = f"on the quartz schedule `{expression}` ({timezone})"
    if len(fields) not in (6, 7) or (len(fields) == 7 and fields[6] != "*"):
        return fallback
    sec, minute, hour, dom, month, dow = fields[:6]
    any_day = ("*", "?")
    if sec != "0" or not minute.isdigit() or month != "*" or int(minute) > 59:
        return fallback
    if hour == "*" and dom in any_day and dow in any_day:
        return f"every hour at minute {int(minute):02d} ({timezone})"
    if not hour.isdigit() or int(hour) > 23:
        return fallback
    at = f"at {int(hour):02d}:{int(minute):02d} {timezone}"
    if dom in any_day and dow in any_day:
        return f"daily {at}"
    days = dow.upper().split("-")
    if dom in any_day and len(days) <= 2 and all(d in _DAYS for d in days):
        if len(days) == 1:
            return f"every {_DAYS[days[0]]} {at}"
        return f"{_DAYS[days[0]]} to {_DAYS[days[1]]} {at}"
    if dom.isdigit() and dow in any_day:
        return f"monthly on day {int(dom)} {at}"
    return fallback


def next_daily_run(expression: str, timezone: str, now: dt.datetime) -> str:
    """``2026-03-03 09:00 UTC`` for a daily schedule, "" for any other shape."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not describe_schedule(expression, timezone).startswith("daily "):
        return ""
    _, minute, hour = expression.split()[:3]
    try:
        local = now.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    due = local.replace(hour=int(hour), minute=int(minute), second=0, microsecond=0)
    if due <= local:
        due += dt.timedelta(days=1)
    return f"{due:%Y-%m-%d %H:%M} {timezone}"


def job_names(settings: Any, env: str) -> list[str]:
    """The jobs the project's bundle deploys to ``env`` (``resources/*.yml``, as included)."""
    bundle = settings.model.selected
    return list(bundle.jobs.get(env, [])) if bundle is not None else []


def find_job(session: Session, env: str, name: str) -> tuple[Any | None, int]:
    """(the newest job named ``name`` in ``env``'s workspace, how many have that name)."""
    from ..databricks_util import ApiErrors

    def load() -> tuple[Any | None, int]:
        with ApiErrors(
            session,
            env,
            "listing jobs",
            denied_fix=f"ask a workspace admin of {env} to let you see its jobs",
            page=PAGE,
        ):
            found = list(session.clients.workspace(env).jobs.list(name=name))
        return max(found, key=lambda j: j.created_time or 0, default=None), len(found)

    return session.cached(f"databricks.{env}.job.{name}", load)


@dataclasses.dataclass
class _Scheduled:
    name: str
    when: str
    next: str


def plan_jobs(session: Session, dry_run: bool = False, enable: bool = False) -> Plan:
    settings = session.settings
    plan = Plan("deploy.jobs")
    if without_project(session.settings, plan, "jobs to check"):
        return plan
    missing: list[str] = []
    running: list[_Scheduled] = []
    paused = 0
    todo: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (bare table, when) -> env, job
    for env in ENVIRONMENTS:
        w = session.clients.workspace(env)
        for name in job_names(settings, env):
            job, count = find_job(session, env, name)
            if job is None:
                missing.append(f"{name} ({env})")
                continue
            if count > 1:
                plan.warn(f"{count} jobs are named {name}; checking the newest ({job.job_id})")
            schedule = job.settings.schedule if job.settings else None
            if schedule is None:
                plan.warn(f"job {name} has no schedule: it runs only when someone starts it")
                when = "when someone starts it"
            else:
                expr, tz = schedule.quartz_cron_expression, schedule.timezone_id
                when = describe_schedule(expr, tz)
                entry = _Scheduled(name, when, next_daily_run(expr, tz, session.now()))
                if not _is_paused(schedule):
                    plan.keep(f"job {name} scheduled {when}")
                    running.append(entry)
                elif enable:
                    unpause = _unpause_fn(session, env, w, job, schedule)
                    plan.add("enable", f"schedule of job {name}", unpause, detail=when)
                    running.append(entry)
                else:
                    plan.warn(f"job {name}: schedule paused, it does not run ({when})")
                    paused += 1
            if name.endswith("-batch-inference-job"):
                _check_input_table(session, plan, env, w, job, when, todo)
    resources = settings.model.batch_resource()
    for (table, when), jobs in todo.items():  # one warning for the jobs of every target
        names = [name for _, name in jobs]
        they, runs = ("it", "runs") if len(names) == 1 else ("they", "run")
        envs = ", ".join(env for env, _ in jobs)
        plan.warn(
            f"{' and '.join(names)} read{'s' * (len(names) == 1)} {table!r}, not a "
            f"catalog.schema.table name (a TODO the template leaves): {they} will fail when "
            f"{they} {runs} ({when}); set input_table_name in {resources}",
            once=bare_input_key(table, resources),
            again=f"batch inference job{'s' * (len(names) > 1)} ({envs}) will fail when "
            f"{they} {runs} ({when}): see above",
        )
    if missing:
        raise SetupError(
            "jobs missing after the CD runs: " + ", ".join(missing),
            fix="the bundle CD run of that environment deploys them: check that it succeeded "
            "(`invoke deploy.runs`) and that "
            f"{settings.project.folder}/resources/ still defines them; if they exist, ask a "
            "workspace admin to give you CAN_VIEW on them",
            page=PAGE,
        )
    if paused:
        plan.note("`invoke deploy --enable` turns the paused schedules on")
    if enable and plan.changes:
        plan.note(
            f"a bundle deploy resets schedules to {settings.project.folder}/resources/*.yml: "
            "if one says `pause_status: PAUSED`, take that out"
        )
    if running:
        lead = "once applied, these jobs run" if dry_run and plan.changes else "these jobs now run"
        enabled = [item for item in running if f"job {item.name} scheduled" not in str(plan.kept)]
        plan.note(f"{lead} on their schedules; nobody needs to start them" + (":" * bool(enabled)))
        for item in enabled:  # those in place say when they run above
            nxt = f" (next {item.next})" if item.next else ""
            plan.note(f"  {item.name}: {item.when}{nxt}")
    return plan


def _is_paused(schedule: Any) -> bool:
    status = getattr(schedule.pause_status, "value", schedule.pause_status)
    return status == "PAUSED"


def _unpause_fn(session: Session, env: str, w: Any, job: Any, schedule: Any) -> Any:
    def unpause() -> int:
        from databricks.sdk.service.jobs import JobSettings, PauseStatus

        from ..databricks_util import ApiErrors
        from ..lost import confirm

        # new_settings replaces top-level fields whole: send the whole schedule.
        on = dataclasses.replace(schedule, pause_status=PauseStatus.UNPAUSED)

        def unpaused() -> bool | None:  # read the job afresh
            now = w.jobs.get(job.job_id).settings
            sched = now.schedule if now is not None else None
            return True if sched is not None and not _is_paused(sched) else None

        with ApiErrors(
            session,
            env,
            f"changing job {job.settings.name}",
            denied_fix="ask a workspace admin for CAN_MANAGE on it, or take "
            f"`pause_status: PAUSED` out of {session.settings.project.folder}/resources/ and "
            "deploy again",
            page=PAGE,
        ):
            confirm(
                lambda: w.jobs.update(job.job_id, new_settings=JobSettings(schedule=on)),
                unpaused,
                f"enabling job {job.settings.name}",
                fix="run `invoke deploy.jobs --enable` again: it reads the job first",
                page=PAGE,
                note=session.out.note,
            )
        job.settings.schedule = on  # the cached lookup (handoff reads it) stays true
        return job.job_id

    return unpause


def _check_input_table(
    session: Session,
    plan: Plan,
    env: str,
    w: Any,
    job: Any,
    when: str,
    todo: dict[tuple[str, str], list[tuple[str, str]]],
) -> None:
    """Warn when the batch inference job's input table is missing or out of reach; a bare
    name (the template's TODO) goes into ``todo`` instead, which the step warns of once."""
    from databricks.sdk.errors import NotFound, PermissionDenied

    from ..databricks_util import ApiErrors, login_rejected

    name = job.settings.name
    with ApiErrors(session, env, f"reading job {name}", page=PAGE):
        detail = w.jobs.get(job.job_id)
    params: dict[str, str] = {}
    for t in (detail.settings.tasks if detail.settings else None) or []:
        if t.notebook_task and t.notebook_task.base_parameters:
            params.update(t.notebook_task.base_parameters)
    configured = session.settings.batch_table("input_table", env)
    if configured.count(".") != 2:  # unqualified: the template's TODO; the job says the rest
        configured = ""
    table = params.get("input_table_name") or configured
    if not table:  # neither the job nor the config names one: nothing to check
        return
    if table.count(".") != 2:  # the template's TODO: a bare name, resolved nowhere in particular
        todo.setdefault((table, when), []).append((env, name))
        return
    if configured and table != configured:
        plan.warn(
            f"{name} reads {table}, not {configured} (unity_catalog.batch_inference."
            "input_table): checked the job's table"
        )
    runs_as = detail.run_as_user_name or f"the {env} service principal"
    try:
        exists = w.tables.exists(table).table_exists
        why = "is missing"
    except NotFound as exc:  # its catalog or schema is missing
        exists, why = False, f"is missing ({first_line(exc)})"
    except PermissionDenied as exc:
        if login_rejected(exc):  # an expired login, not a missing right: say so
            with ApiErrors(session, env, f"reading table {table}", page=PAGE):
                raise
        plan.warn(
            f"cannot see table {table} in {env} (permission denied): check that it exists "
            f"and that `{runs_as}` may SELECT it"
        )
        return
    if not exists:
        plan.warn(f"table {table} {why}: {name} will fail when it runs ({when})")
        readme = f"{session.settings.project.folder}/deployment/batch_inference/README.md"
        plan.warn(f"fix: create it (see {readme}), then `invoke ci.permissions`")
        plan.warn(f"or in {env}: GRANT SELECT ON TABLE {table} TO `{runs_as}`")
        return
    plan.keep(f"table {table} exists (batch inference input)")


# ------------------------------------------------------------------------------------ tasks

RUNS = Step("deploy.runs", "the bundle CD runs for staging and prod", plan_runs)
JOBS = Step("deploy.jobs", "the deployed jobs and their schedules", plan_jobs)
STEPS = (RUNS, JOBS)


@task(name="runs", help={"dry_run": DRY_RUN_HELP})
def runs(c, dry_run=False):
    """Wait for the staging and prod CD runs to succeed."""
    run_step(c, RUNS, dry_run=dry_run)


@task(name="jobs", help={"dry_run": DRY_RUN_HELP, "enable": ENABLE_HELP})
def jobs(c, dry_run=False, enable=False):
    """Check the deployed jobs and their schedules."""
    run_step(c, JOBS, dry_run=dry_run, enable=enable)


@task(name="all", default=True, help={"dry_run": DRY_RUN_HELP, "enable": ENABLE_HELP})
def all_(c, dry_run=False, enable=False):
    """Wait for the CD runs, then check the jobs."""
    with open_session(c) as session:
        run_step(c, RUNS, dry_run=dry_run, session=session)
        run_step(c, JOBS, dry_run=dry_run, session=session, enable=enable)


ns = Collection("deploy", runs, jobs, all_)
