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
FIX_TARGETS_HELP = (
    "Commit the staging/prod/test targets to the pull request's databricks.yml when "
    "deploy-cicd.yml left them out (a bug of template v0.4-v0.5)."
)


def branch_prefix(name: str) -> str:
    return f"add-cicd-for-{name}-"


def plan_workflows(
    session: Session, dry_run: bool = False, merge: bool = False, fix_targets: bool = False
) -> Plan:
    from github import UnknownObjectException

    from ...github_util import find_pull, recent_runs
    from .secrets import _repo

    settings = session.settings
    s = settings.github
    name = settings.project.name
    plan = Plan("ci.workflows")
    bundle = settings.model.selected
    if bundle is None:
        plan.keep(
            f"{settings.setup_mode or 'this'} root holds no project yet: nothing to dispatch; "
            f"once a project is added, {DEPLOY_WORKFLOW} generates its workflows"
        )
        return plan
    repo = _repo(session)
    wanted = bundle.workflows
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
        fixed = _plan_targets(session, plan, repo, pr, fix_targets, merge)
        _plan_merge(session, plan, repo, merge, pr=pr, fixed=fixed)
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
    _plan_merge(session, plan, repo, merge, result=result, fix_targets=fix_targets)
    return plan


def _targets_gap(session: Session, repo: Any, ref: str) -> tuple[list[str], Any]:
    """(targets missing from the project's databricks.yml at ``ref``, its content file)."""
    from ...project import missing_targets

    path = f"{session.settings.project.folder}/databricks.yml"
    content = repo.get_contents(path, ref=ref)
    return missing_targets(content.decoded_content.decode("utf-8")), content


def _targets_error(session: Session, pr: Any, missing: list[str]) -> SetupError:
    folder = session.settings.project.folder
    return SetupError(
        f"PR #{pr.number} leaves {folder}/databricks.yml without the {', '.join(missing)} "
        f"target(s): deploy-cicd.yml (template v0.4-v0.5) appends them to a file named "
        f"'{folder}\\databricks.yml' instead, so staging CD would fail with no such target",
        fix="run `invoke ci.workflows --fix-targets` (commits the targets deploy-cicd.yml "
        "renders to the PR's branch), or add them to the PR by hand",
        page=PAGE,
    )


def _fix_targets(session: Session, repo: Any, pr: Any, content: Any) -> str:
    """Append the targets to the PR branch's databricks.yml; the new head SHA."""
    from ...project import appended_targets_text

    fragment = appended_targets_text(session.settings.project.dir)
    if not fragment:
        raise SetupError(
            "deploy-cicd.yml has no 'Update databricks.yml' step to take the targets from",
            fix="add the staging, prod and test targets to the PR by hand",
            page=PAGE,
        )
    from ...project import missing_targets

    text = content.decoded_content.decode("utf-8")
    new = (text if text.endswith("\n") else text + "\n") + "\n" + fragment
    if missing_targets(new):  # `targets:` is not the file's last section: appending won't do
        raise SetupError(
            f"{content.path} does not end with its `targets:` section, so the targets cannot "
            "be appended safely",
            fix="add the staging, prod and test targets to the PR by hand",
            page=PAGE,
        )
    result = repo.update_file(
        content.path,
        "Add the staging, prod and test targets deploy-cicd.yml left out (mlops-setup)",
        new,
        content.sha,
        branch=pr.head.ref,
    )
    return result["commit"].sha


def _plan_targets(session: Session, plan: Plan, repo: Any, pr: Any, fix: bool, merge: bool) -> dict:
    """Check the open CI/CD PR's databricks.yml; with ``fix``, plan the commit that mends it
    (a merge without it stops; otherwise a warning). Returns a dict the merge reads the PR's
    new head SHA from, once the fix is applied."""
    fixed: dict[str, str] = {}
    missing, content = _targets_gap(session, repo, pr.head.sha)
    if not missing:
        plan.keep(f"PR #{pr.number}: {content.path} has the staging, prod and test targets")
        return fixed
    if not fix:
        error = _targets_error(session, pr, missing)
        if merge:
            raise error
        plan.warn(error.message)
        plan.warn(f"fix: {error.fix}")
        return fixed

    def apply() -> str:
        fixed["sha"] = _fix_targets(session, repo, pr, content)
        return fixed["sha"]

    plan.add(
        "commit",
        f"targets {', '.join(missing)} to {content.path}",
        apply,
        detail=f"on {pr.head.ref}",
    )
    return fixed


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
    fixed: dict[str, str] | None = None,
    fix_targets: bool = False,
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
        sha = (fixed or {}).get("sha") or head or the_pr.head.sha
        if pr is None:  # opened by this run: check what deploy-cicd.yml wrote before merging
            missing, content = _targets_gap(session, repo, sha)
            if missing and not fix_targets:
                raise _targets_error(session, the_pr, missing)
            if missing:
                sha = _fix_targets(session, repo, the_pr, content)
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


@task(
    name="workflows",
    help={"dry_run": DRY_RUN_HELP, "merge": MERGE_HELP, "fix_targets": FIX_TARGETS_HELP},
)
def workflows(c, dry_run=False, merge=False, fix_targets=False):
    """Run deploy-cicd.yml and open (or --merge) its pull request."""
    run_step(c, STEP, dry_run=dry_run, merge=merge, fix_targets=fix_targets)
