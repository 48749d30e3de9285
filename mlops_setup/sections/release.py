"""Guide section "Create release branch".

The guide: create a ``release`` branch from the default branch. Every push to ``release`` runs
``<project>-bundle-cd-prod.yml``, which deploys the bundle to the prod workspace; promoting code
to production later means moving ``release`` forward to the default branch.

``release.branch`` (also ``invoke release``):

* missing: created from the default branch on GitHub through the refs API
  (``POST .../git/refs``), as the guide's "create a release branch in the GitHub UI" does;
  no local clone is needed, and the push event it makes starts the prod CD workflow;
* at the same commit as the default branch: nothing to do;
* behind the default branch (an ancestor of it): reported; ``--update`` fast-forwards it
  (``PATCH .../git/refs/heads/release`` with ``force: false``): that is how code is promoted;
* with commits the default branch lacks (a hotfix made on ``release``, or diverged): reported, never
  moved; GitHub itself refuses a non-fast-forward update without ``force``, which we never send.

Which commits each side has comes from GitHub's compare API, not from the local clone, so the
step is right even when the local clone is stale.
"""

from __future__ import annotations

from typing import Any

from invoke import Collection, task

from ..changes import Plan, SetupError
from ..console import plural
from ..session import DRY_RUN_HELP, Session, Step, run_step

PAGE = "release.md"
UPDATE_HELP = "Fast-forward an existing release branch to the default branch (promotes to prod)."


def github_repo(session: Session) -> Any:
    """The GitHub repo object (see :func:`repo.require_repo`)."""
    from .repo import require_repo

    return require_repo(session, PAGE)


def branch_sha(session: Session, repo: Any, branch: str) -> str | None:
    """SHA of ``branch`` on GitHub (refs API), or None if it does not exist."""
    from github import GithubException, UnknownObjectException

    def load() -> str | None:
        try:
            return repo.get_git_ref(f"heads/{branch}").object.sha
        except UnknownObjectException:
            return None
        except GithubException as exc:
            if exc.status == 409:  # "Git Repository is empty."
                return None
            raise

    return session.cached(f"github.branch.{branch}", load)


def plan_branch(session: Session, dry_run: bool = False, update: bool = False) -> Plan:
    s = session.settings.github
    release, default = s.release_branch, s.default_branch
    plan = Plan("release.branch")
    repo = github_repo(session)
    head = branch_sha(session, repo, default)
    if head is None:
        raise SetupError(
            f"{s.full_name} has no branch {default} on GitHub, so there is nothing to release",
            fix="run `invoke repo` (it pushes the first commit to "
            f"{default}), then `invoke code` to merge the ML code",
            page=PAGE,
        )
    current = branch_sha(session, repo, release)
    if current is None:

        def create() -> str:
            from github import GithubException

            from ..lost import confirm

            try:
                confirm(
                    lambda: repo.create_git_ref(f"refs/heads/{release}", head),
                    lambda: _at(session, repo, release, head),
                    f"creating branch {release}",
                    fix="run `invoke release` again: it looks at the branch first",
                    page=PAGE,
                    note=plan.note,
                )
            except GithubException as exc:
                raise _refused(exc, f"create branch {release}", s.full_name) from None
            session.cache[f"github.branch.{release}"] = head
            return head

        plan.add(
            "create",
            f"branch {release} on {s.full_name}",
            create,
            detail=f"from {default} at {head[:7]}",
        )
        plan.note(f"a push to {release} deploys the bundle to prod: `invoke deploy` checks it")
        return plan
    if current == head:
        plan.keep(f"branch {release} is at {default} ({head[:7]})")
        return plan
    comparison = repo.compare(
        current, head
    )  # base...head: what the default branch has over release
    status, ahead, behind = comparison.status, comparison.ahead_by, comparison.behind_by
    if status == "identical":
        plan.keep(f"branch {release} has the same content as {default}")
    elif status == "ahead":  # release is an ancestor of the default branch: it is behind
        lag = plural(ahead, "commit")
        if update:
            plan.add(
                "fast-forward",
                f"branch {release} to {default}",
                lambda: _fast_forward(session, repo, release, head),
                detail=f"{current[:7]}..{head[:7]}, {lag}",
            )
            plan.note(f"that push deploys {default}'s code to prod: `invoke deploy` checks it")
        else:
            plan.warn(
                f"branch {release} is {lag} behind {default}: prod runs older code "
                f"({current[:7]} < {head[:7]})"
            )
            plan.note(f"to promote {default} to prod: `invoke release --update` (a fast-forward)")
    elif status == "behind":  # release has commits the default branch lacks, which has nothing new
        plan.warn(
            f"branch {release} has {plural(behind, 'commit')} that {default} lacks "
            "(a hotfix?); left as it is"
        )
        plan.note(f"merge {release} back into {default} so the next release keeps them")
    else:  # diverged
        message = (
            f"branches {release} and {default} have diverged: {release} has "
            f"{plural(behind, 'commit')} {default} lacks, {default} has "
            f"{plural(ahead, 'commit')} {release} lacks"
        )
        if update:
            raise SetupError(
                message + "; a fast-forward is impossible",
                fix=f"merge {release} into {default} (a pull request), then run "
                "`invoke release --update`; we never force-push",
                page=PAGE,
            )
        plan.warn(message + "; left as it is")
        plan.note(f"merge {release} into {default}, then `invoke release --update`")
    return plan


def _refused(exc: Any, doing: str, full_name: str) -> Exception:
    """A GitHub error on a ref write, in the guide's terms (403: the token or a rule)."""
    data = getattr(exc, "data", None)
    reason = data.get("message", "") if isinstance(data, dict) else ""
    if exc.status in (401, 403):
        return SetupError(
            f"GitHub refused to {doing} on {full_name} ({exc.status}): {reason}",
            fix="use a token that may push to the repo (classic: `repo` scope; fine-grained: "
            "Contents read and write); a ruleset on the branch may also forbid it",
            page=PAGE,
        )
    if exc.status == 422:
        return SetupError(
            f"GitHub refused to {doing} on {full_name} (422): {reason}",
            fix="someone changed the branch meanwhile: run `invoke release` again to see where "
            "it stands; we never force-push",
            page=PAGE,
        )
    return exc


def _at(session: Session, repo: Any, branch: str, sha: str) -> bool | None:
    """True if ``branch`` is at ``sha`` on GitHub now (read afresh), else None."""
    session.cache.pop(f"github.branch.{branch}", None)
    return True if branch_sha(session, repo, branch) == sha else None


def _fast_forward(session: Session, repo: Any, release: str, sha: str) -> str:
    from github import GithubException

    from ..lost import confirm

    try:
        confirm(
            lambda: repo.get_git_ref(f"heads/{release}").edit(sha, force=False),
            lambda: _at(session, repo, release, sha),
            f"fast-forwarding branch {release}",
            fix="run `invoke release --update` again: it looks at the branch first",
            page=PAGE,
            note=session.out.note,
        )
    except GithubException as exc:
        raise _refused(exc, f"fast-forward {release} to {sha[:7]}", repo.full_name) from None
    session.cache[f"github.branch.{release}"] = sha
    return sha


# ------------------------------------------------------------------------------------ tasks

BRANCH = Step("release.branch", "the release branch", plan_branch)
STEPS = (BRANCH,)


@task(name="branch", default=True, help={"dry_run": DRY_RUN_HELP, "update": UPDATE_HELP})
def branch(c, dry_run=False, update=False):
    """Create the release branch from the default branch."""
    run_step(c, BRANCH, dry_run=dry_run, update=update)


ns = Collection("release", branch)
