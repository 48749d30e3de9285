"""ci.workflows: the guide's "Setting up CI/CD workflows".

The per-project workflows (``<p>-bundle-ci.yml``, ``<p>-bundle-cd-staging.yml``,
``<p>-bundle-cd-prod.yml``, ``<p>-run-tests.yml``) come from one of two places:

* the project was generated with them (``CICD_and_Project``): they are in the project folder and
  reach the default branch with the ML code pull request (``invoke code``), or they are on the
  default branch already. Nothing to dispatch; the step says so and succeeds.
* otherwise ``deploy-cicd.yml`` makes them: it must be on the default branch with the project
  code (the guide: "once the project code has been added to your main repo"). The step
  dispatches it with input ``project_name``, gets its run (from the dispatch response where the
  server supports ``return_run_details``, else by listing dispatch runs created after the
  dispatch), waits for it with bounded backoff and one progress line per poll, and on failure
  prints the run's URL and the failing job. The run pushes ``add-cicd-for-<p>-<unix time>`` and
  opens a pull request with ``GITHUB_TOKEN``: the step prints its URL. Checks are not waited
  for: a pull request opened with ``GITHUB_TOKEN`` starts no workflows.

``--merge`` merges that pull request with a head-SHA guard. Branch protection that blocks the
merge is reported with what it asks for (exit code 3), and a re-run resumes there: an open
``add-cicd-for-<p>-*`` pull request, or a dispatch run still in progress, is picked up instead
of dispatching again.
"""

from __future__ import annotations

from typing import Any

from invoke import task

from ...changes import Plan, SetupError
from ...session import DRY_RUN_HELP, Session, Step, run_step

PAGE = "ci.md#workflows"
DEPLOY_WORKFLOW = "deploy-cicd.yml"
MERGE_HELP = "Merge the pull request the workflow opens (head-SHA guarded)."


def project_workflows(name: str) -> list[str]:
    """Paths of the four per-project workflows (as ``deploy-cicd.yml`` names them)."""
    from ...example import PROJECT_WORKFLOWS

    return PROJECT_WORKFLOWS(name)


def branch_prefix(name: str) -> str:
    return f"add-cicd-for-{name}-"


def plan_workflows(session: Session, dry_run: bool = False, merge: bool = False) -> Plan:
    from github import UnknownObjectException

    from ...github_util import find_pull, recent_runs
    from .secrets import _repo

    settings = session.settings
    s = settings.github
    name = settings.project.name
    plan = Plan("ci.workflows")
    repo = _repo(session)
    wanted = project_workflows(name)
    on_default = {w.path for w in repo.get_workflows()}
    if all(path in on_default for path in wanted):
        plan.keep(f"the CI/CD workflows of {name} are on {s.default_branch}: nothing to dispatch")
        return plan
    if all((settings.project.dir / path).is_file() for path in wanted):
        plan.keep(
            f"{name} was generated with its CI/CD workflows: nothing to dispatch; they reach "
            f"{s.default_branch} with the ML code pull request (`invoke code`)"
        )
        return plan
    pr = find_pull(repo, base=s.default_branch, head_prefix=branch_prefix(name))
    if pr is not None:
        plan.keep(f"PR #{pr.number} from {pr.head.ref} is open: {pr.html_url}")
        _plan_merge(session, plan, repo, merge, pr=pr)
        return plan
    try:
        workflow = repo.get_workflow(DEPLOY_WORKFLOW)
    except UnknownObjectException:
        raise SetupError(
            f"{DEPLOY_WORKFLOW} is not on {s.default_branch} of {s.full_name}, and {name} has "
            "no CI/CD workflows of its own",
            fix="the guide runs it once the project code is on the default branch: merge the "
            f"ML code first (`invoke code --merge`), or regenerate {name} with CI/CD",
            page=PAGE,
        ) from None
    runs = recent_runs(workflow, s.default_branch)
    running = [r for r in runs if r.status != "completed"]
    what = f"{DEPLOY_WORKFLOW} on {s.default_branch}"
    result: dict[str, Any] = {}
    if running:
        run = running[0]
        label = f"{DEPLOY_WORKFLOW} run {run.id}"
        if dry_run:
            plan.keep(f"{label} is already {run.status} ({run.html_url}): the apply waits for it")
            plan.waiting = label  # type: ignore[attr-defined]
        else:
            session.out.progress(f"{label} is already {run.status}, waiting for it: {run.html_url}")
            result["pr"] = _finish(session, repo, run, what=label)
            plan.keep(f"PR #{result['pr'].number} opened by {label}: {result['pr'].html_url}")
            _plan_merge(session, plan, repo, merge, pr=result["pr"])
            return plan
    else:

        def dispatch() -> int:
            from ...github_util import dispatch_workflow

            started = dispatch_workflow(
                session,
                workflow,
                s.default_branch,
                {"project_name": name},
                known_run_ids=[r.id for r in runs],
                page=PAGE,
            )
            run = started.run  # the wait's first line names its URL
            result["pr"] = _finish(session, repo, run, what=f"{DEPLOY_WORKFLOW} run {run.id}")
            session.out.info(f"PR #{result['pr'].number} opened: {result['pr'].html_url}")
            return run.id

        plan.add("dispatch", what, dispatch, detail=f"project_name={name}")
    _plan_merge(session, plan, repo, merge, result=result)
    return plan


def _finish(session: Session, repo: Any, run: Any, *, what: str) -> Any:
    """Wait for ``run``; on success return the pull request it opened."""
    from ...backoff import WaitTimeout
    from ...github_util import find_pull, run_failure, wait_for_run

    s = session.settings.github
    name = session.settings.project.name
    wait_for_run(session, run, what=what, page=PAGE)
    if run.conclusion != "success":
        raise run_failure(run, what, page=PAGE)
    try:
        return session.backoff(timeout=min(session.settings.ci.wait_timeout, 120)).until(
            lambda: find_pull(repo, base=s.default_branch, head_prefix=branch_prefix(name)),
            "the pull request",
        )
    except WaitTimeout:
        raise SetupError(
            f"{what} succeeded but no open pull request from {branch_prefix(name)}* into "
            f"{s.default_branch} can be found",
            fix=f"look at the run's log ({run.html_url}): `gh pr create` may have been refused "
            "(allow GitHub Actions to create pull requests: `invoke ci.workflow-permissions`)",
            page=PAGE,
        ) from None


def _plan_merge(
    session: Session,
    plan: Plan,
    repo: Any,
    merge: bool,
    *,
    pr: Any = None,
    result: dict[str, Any] | None = None,
) -> None:
    from ...github_util import merge_pull

    s = session.settings.github
    if not merge:
        plan.note(
            "review and merge the CI/CD pull request on GitHub, or run `invoke ci.workflows "
            "--merge`"
        )
        if pr is not None:
            plan.waiting = f"merge of PR #{pr.number}"  # type: ignore[attr-defined]
        return
    if pr is not None:
        head = pr.head.sha
        target = f"PR #{pr.number} {pr.head.ref} -> {s.default_branch}"
    else:
        head = ""
        target = f"the PR {DEPLOY_WORKFLOW} opens -> {s.default_branch}"

    def apply() -> str:
        the_pr = pr if pr is not None else (result or {})["pr"]
        sha = head or the_pr.head.sha
        return merge_pull(
            session,
            the_pr,
            sha=sha,
            method=s.merge_method,
            what=f"PR #{the_pr.number}",
            page=PAGE,
        )

    detail = f"{s.merge_method}, head {head[:7]}" if head else s.merge_method
    plan.add("merge", target, apply, detail=detail)


STEP = Step("ci.workflows", "the project's CI/CD workflows", plan_workflows)
STEPS = (STEP,)


@task(name="workflows", help={"dry_run": DRY_RUN_HELP, "merge": MERGE_HELP})
def workflows(c, dry_run=False, merge=False):
    """Run deploy-cicd.yml and open (or --merge) its pull request."""
    run_step(c, STEP, dry_run=dry_run, merge=merge)
