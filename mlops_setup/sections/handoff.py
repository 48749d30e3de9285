"""Guide section "Next steps": hand the project over to the data scientists.

``handoff.issue`` (also ``invoke handoff``) opens one GitHub issue in the project's repo,
addressed to ``handoff.team`` (an ``@org/team`` mention) and ``handoff.users`` (``@user``),
saying what was set up: the repo and its two branches, the workspaces, the service principals'
application ids (identifiers, not secrets), the GitHub Actions secrets by name only, and the
deployed jobs with their schedules; with links to ``docs/ml-pull-request.md`` and
``<p>/resources/README.md`` on the default branch.

One issue per repo: a re-run finds it by its exact title (``handoff.title``), open or closed,
and opens no second one; it never edits it. The issue list API is used, not the search API:
search is eventually consistent, so a quick re-run could miss an issue opened a moment ago.
The body is built only when the issue is to be opened, so a re-run makes one request.
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, task

from ..changes import Plan, without_project
from ..session import DRY_RUN_HELP, Session, Step, run_step
from .deploy import ENVIRONMENTS, cd_branch, describe_schedule, find_job, job_names
from .release import github_repo

PAGE = "handoff.md"


def secret_names(settings: Any) -> list[str]:
    """The GitHub Actions secrets the project's workflows read (read from the workflows)."""
    return list(settings.model.secrets)


def mentions(settings: Any) -> list[str]:
    """``@org/team`` for the team, ``@login`` for each user."""
    out = []
    team = settings.handoff.team.strip().lstrip("@")
    if team:
        out.append("@" + (team if "/" in team else f"{settings.github.owner}/{team}"))
    out.extend("@" + user.strip().lstrip("@") for user in settings.handoff.users if user.strip())
    return out


def find_issue(repo: Any, title: str) -> Any | None:
    """The oldest issue (open or closed, not a pull request) titled exactly ``title``."""
    for issue in repo.get_issues(state="all", sort="created", direction="asc"):
        # pull requests are listed too; their html_url says so (reading ``pull_request`` on
        # an issue without it would cost one more request per issue)
        if issue.title == title and "/pull/" not in issue.html_url:
            return issue
    return None


def issue_body(session: Session, plan: Plan) -> str:
    """The hand-over text (markdown). Looks up the SPs and jobs; warns about missing ones."""
    from ..databricks_util import find_service_principal

    settings = session.settings
    gh = settings.github
    p, folder = settings.project.name, settings.project.folder
    blob = f"{gh.html_url}/blob/{gh.default_branch}"
    who = mentions(settings)
    lines = [
        f"{', '.join(who) + ': ' if who else ''}the MLOps Stacks project `{p}` is set up and "
        "ready for your ML code.",
        "",
        "## What was set up",
        "",
        f"* **Repository**: {gh.html_url}. A merge to `{cd_branch(settings, 'staging')}` "
        f"deploys to staging; a push to `{cd_branch(settings, 'prod')}` deploys to production.",
        "* **Workspaces**: "
        + ", ".join(f"{env} {settings.databricks.workspace(env).host}" for env in ENVIRONMENTS),
        "* **Service principals** (CI/CD deploys as them):",
    ]
    for env in ENVIRONMENTS:
        sp = find_service_principal(session, env)
        name = sp.display_name if sp is not None else settings.sp_name(env)
        if sp is None:
            plan.warn(f"service principal {name} not found: the issue says so")
            lines.append(f"  * {env}: `{name}` (not found: run `invoke ci.service-principals`)")
        else:
            lines.append(f"  * {env}: `{name}`, application id `{sp.application_id}`")
    names = ", ".join(f"`{n}`" for n in secret_names(settings))
    lines.append(f"* **GitHub Actions secrets** (names only): {names}")
    lines.append("* **Jobs** (they run on their schedules, nobody needs to start them):")
    for env in ENVIRONMENTS:
        host = settings.databricks.workspace(env).host.rstrip("/")
        for job_name in job_names(settings, env):
            job, _ = find_job(session, env, job_name)
            if job is None:
                plan.warn(f"job {job_name} not found: the issue says so")
                lines.append(f"  * `{job_name}`: not deployed yet (see `invoke deploy`)")
                continue
            schedule = job.settings.schedule if job.settings else None
            when = (
                describe_schedule(schedule.quartz_cron_expression, schedule.timezone_id)
                if schedule
                else "no schedule"
            )
            if schedule and getattr(schedule.pause_status, "value", "") == "PAUSED":
                when += ", paused"
            lines.append(f"  * [`{job_name}`]({host}/jobs/{job.job_id}): {when}")
    lines += [
        "",
        "## How to work",
        "",
        "* The day-to-day loop (feature branch, pull request, tests, release): "
        f"[docs/ml-pull-request.md]({blob}/docs/ml-pull-request.md)",
        "* Jobs, schedules, clusters and permissions: "
        f"[{folder}/resources/README.md]({blob}/{folder}/resources/README.md)",
        f"* To ship to production, bring `{gh.release_branch}` up to `{gh.default_branch}` "
        f"(a fast-forward: `invoke release --update`).",
        "",
        "<sub>Opened by mlops-setup. A re-run finds this issue by its title and opens no "
        "second one.</sub>",
        "",
    ]
    return "\n".join(lines)


def plan_issue(session: Session, dry_run: bool = False) -> Plan:
    settings = session.settings
    title = settings.handoff.title
    plan = Plan("handoff.issue")
    if without_project(session.settings, plan, "hand-over issue"):
        return plan
    repo = github_repo(session)
    existing = find_issue(repo, title)
    if existing is not None:
        plan.keep(f"hand-over issue #{existing.number} exists ({existing.state})")
        plan.note(existing.html_url)
        return plan
    who = mentions(settings)
    if not who:
        plan.warn("handoff.team and handoff.users are empty: the issue notifies nobody")
    body = issue_body(session, plan)

    def open_issue() -> str:
        from github import GithubException

        from ..changes import SetupError
        from ..lost import confirm

        try:
            issue = confirm(
                lambda: repo.create_issue(title=title, body=body),
                lambda: find_issue(repo, title),  # never a second issue: look for it first
                f"opening issue '{title}'",
                fix="run `invoke handoff` again: it looks for the issue by title first",
                page=PAGE,
                note=plan.note,
            )
        except GithubException as exc:
            if exc.status == 410:
                raise SetupError(
                    f"issues are disabled in {settings.github.full_name} (410)",
                    fix="turn Issues on (repo Settings, General, Features), or hand over "
                    "another way and skip this step",
                    page=PAGE,
                ) from None
            raise
        plan.note(issue.html_url)
        return issue.html_url

    plan.add(
        "open",
        f"issue '{title}' on {settings.github.full_name}",
        open_issue,
        detail=f"for {', '.join(who)}" if who else "addressed to nobody",
    )
    return plan


# ------------------------------------------------------------------------------------ tasks

ISSUE = Step("handoff.issue", "the hand-over issue for the data scientists", plan_issue)
STEPS = (ISSUE,)


@task(name="issue", default=True, help={"dry_run": DRY_RUN_HELP})
def issue(c, dry_run=False):
    """Open the hand-over issue for the data scientists."""
    run_step(c, ISSUE, dry_run=dry_run)


ns = Collection("handoff", issue)
