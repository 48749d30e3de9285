"""ci.workflow-permissions: the repo's Actions workflow permissions, as the guide asks.

The guide (Repo settings > Actions > General > Workflow permissions) asks for:

* ``Read and write permissions`` for ``GITHUB_TOKEN`` (none of the generated workflows declares
  ``permissions:``, so they run with the repo default), and
* ``Allow GitHub Actions to create and approve pull requests``: ``deploy-cicd.yml`` opens its
  pull request with ``GITHUB_TOKEN``. GitHub calls this setting a security risk (a workflow could
  approve its own pull request); the step says so each time it sets it.

The API is ``GET``/``PUT /repos/{owner}/{repo}/actions/permissions/workflow`` (not wrapped by
PyGithub). Before changing anything the prior values are recorded in the journal
(``ci.workflow-permissions``), once: ``--revert`` puts them back and forgets them. An
organisation (or enterprise) policy that forbids the change answers 409: the step says who can
lift it and where.
"""

from __future__ import annotations

from typing import Any

from invoke import task

from ...changes import Plan, SetupError
from ...session import DRY_RUN_HELP, Session, Step, run_step

PAGE = "ci.md#workflow-permissions"
JOURNAL_KEY = "ci.workflow-permissions"
WANTED = {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}
TRADE_OFF = (
    "letting GitHub Actions create and approve pull requests is a security trade-off the "
    "guide asks for (deploy-cicd.yml opens its PR with GITHUB_TOKEN); `--revert` undoes it"
)
REVERT_HELP = "Put back the permissions recorded before this step changed them."


def describe(values: dict[str, Any]) -> str:
    access = "read and write" if values.get("default_workflow_permissions") == "write" else "read"
    prs = "may" if values.get("can_approve_pull_request_reviews") else "may not"
    return f"{access}; Actions {prs} create and approve pull requests"


def describe_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What an update changes, in one line: ``read -> read and write; Actions may now ...``."""
    now, was = describe(after).split("; "), describe(before).split("; ")
    parts = [f"{was[0]} -> {now[0]}"] if now[0] != was[0] else []
    if now[1] != was[1]:
        may = "may now" if after.get("can_approve_pull_request_reviews") else "may no longer"
        parts.append(f"Actions {may} create and approve PRs")
    return "; ".join(parts)


def _url(repo: Any) -> str:
    return f"{repo.url}/actions/permissions/workflow"


def read_permissions(session: Session, repo: Any) -> dict[str, Any]:
    from github import GithubException

    try:
        _, data = repo._requester.requestJsonAndCheck("GET", _url(repo))
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            raise SetupError(
                f"GitHub refused to show the Actions settings of {repo.full_name} ({exc.status})",
                fix="use a token with admin rights on the repo (classic: `repo` scope; "
                "fine-grained: Administration read and write)",
                page=PAGE,
            ) from None
        raise
    return {k: data.get(k) for k in WANTED}


def _write(session: Session, repo: Any, values: dict[str, Any]) -> None:
    from github import GithubException

    from ...lost import confirm

    def in_place() -> bool | None:
        now = read_permissions(session, repo)
        return True if all(now.get(k) == v for k, v in values.items()) else None

    try:
        confirm(
            lambda: repo._requester.requestJsonAndCheck("PUT", _url(repo), input=dict(values)),
            in_place,
            "changing the workflow permissions",
            fix="run `invoke ci.workflow-permissions` again: it reads them first",
            page=PAGE,
            note=session.out.note,
        )
    except GithubException as exc:
        owner = session.settings.github.owner
        if exc.status == 409:
            raise SetupError(
                f"the organisation {owner} does not let repositories change their workflow "
                "permissions (409: set by an organisation or enterprise policy)",
                fix=f"ask an owner of {owner} to allow it in {session.settings.github.web_url}"
                f"/organizations/{owner}/settings/actions (Workflow permissions: read and "
                "write, and allow GitHub Actions to create and approve pull requests), or to "
                "set it for this repo; then run again",
                page=PAGE,
            ) from None
        if exc.status in (401, 403, 404):
            raise SetupError(
                f"GitHub refused to change the Actions settings of {repo.full_name} ({exc.status})",
                fix="use a token with admin rights on the repo (classic: `repo` scope; "
                "fine-grained: Administration read and write)",
                page=PAGE,
            ) from None
        raise


def plan_workflow_permissions(
    session: Session, dry_run: bool = False, revert: bool = False
) -> Plan:
    from .secrets import _repo

    plan = Plan("ci.workflow-permissions")
    repo = _repo(session)
    current = read_permissions(session, repo)
    recorded = session.journal.get(JOURNAL_KEY) or {}
    if recorded.get("repo") != repo.full_name:
        recorded = {}
    if revert:
        return _plan_revert(session, plan, repo, current, recorded, dry_run)
    if current == WANTED:
        plan.keep(f"workflow permissions of {repo.full_name}: {describe(current)}")
        return plan

    def apply() -> None:
        if (session.journal.get(JOURNAL_KEY) or {}).get("repo") != repo.full_name:
            session.journal.set(JOURNAL_KEY, {"repo": repo.full_name, "prior": current})
        _write(session, repo, WANTED)

    # an update in place (the repo's setting exists either way); the prior value is journaled
    plan.add(
        "update",
        f"workflow permissions of {repo.full_name}",
        apply,
        detail=describe_change(current, WANTED),
    )
    if not current.get("can_approve_pull_request_reviews"):  # the trade-off is this change's
        plan.warn(TRADE_OFF)
    return plan


def _plan_revert(
    session: Session,
    plan: Plan,
    repo: Any,
    current: dict[str, Any],
    recorded: dict[str, Any],
    dry_run: bool,
) -> Plan:
    prior = recorded.get("prior")
    if not prior:
        plan.keep(f"nothing recorded to put back for {repo.full_name} (now: {describe(current)})")
        return plan
    prior = {k: prior.get(k) for k in WANTED}
    if current == prior:
        plan.keep(f"workflow permissions of {repo.full_name}: {describe(current)} (as before)")
        if not dry_run:
            session.journal.pop(JOURNAL_KEY)
        return plan

    def apply() -> None:
        _write(session, repo, prior)
        session.journal.pop(JOURNAL_KEY)

    plan.add(
        "restore",
        f"workflow permissions of {repo.full_name}",
        apply,
        detail=describe_change(current, prior),
    )
    return plan


STEP = Step(
    "ci.workflow-permissions",
    "what GITHUB_TOKEN may do in the repo's workflows",
    plan_workflow_permissions,
)
STEPS = (STEP,)


@task(name="workflow-permissions", help={"dry_run": DRY_RUN_HELP, "revert": REVERT_HELP})
def workflow_permissions(c, dry_run=False, revert=False):
    """Let workflows write and open pull requests (GITHUB_TOKEN)."""
    run_step(c, STEP, dry_run=dry_run, revert=revert)
