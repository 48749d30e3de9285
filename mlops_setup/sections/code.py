"""Guide section "Merge a PR with your initial ML code".

``code.pr`` (also ``invoke code``):

1. branch ``github.code_branch`` (``add-ml-code``) from the default branch (fast-forwarded to
   ``upstream`` first if the CI/CD pull request was merged there meanwhile);
2. commit the project's ML code: the whole project tree minus what git ignores (``.gitignore``
   and ``.git/info/exclude``, which keeps the tool's journal out);
3. push the branch (never forced) and open the pull request, or reuse the open one from it;
4. wait for the check runs on the head commit with bounded backoff, one progress line per poll;
   failing checks are listed with their URLs and the task exits 1;
5. ``--merge``: when the checks are green, merge with a head-SHA guard. When the base branch's
   protection asks for approving reviews that are not there yet, it stops with "waiting for
   review" and the pull request's URL (exit code 3); a re-run resumes there. After the merge the
   local default branch is brought up to date with ``upstream`` and checked out.

A re-run on a finished section (the pull request merged, the local branch up to date) changes
nothing and sends no mutating request.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from invoke import Collection, task

from ..changes import Plan, SetupError, without_project
from ..gitops import Git
from ..session import DRY_RUN_HELP, Session, Step, run_step

PAGE = "code.md#pr"
COMMIT_MESSAGE = "Add ML code for {project}"
MERGE_HELP = "Merge the pull request once its checks pass (head-SHA guarded)."


def _pr_title(session: Session) -> str:
    return f"Add ML code for {session.settings.project.name}"


def _pr_body(session: Session) -> str:
    return (
        f"The ML code of the MLOps Stacks project `{session.settings.project.name}`, as the "
        'MLOps Setup Guide asks ("Merge a PR with your initial ML code"). Opened by mlops-setup.'
    )


SECRET_FILE_NAMES = re.compile(
    r"(^|/)(\.env(\..*)?|\.databrickscfg|\.netrc|\.git-credentials|id_(rsa|ed25519|ecdsa)|"
    r".*\.(pem|p12|pfx|key))$"
)


def _refuse_secrets(root: Path, paths: list[str]) -> None:
    """The whole tree goes to GitHub: stop if any of it looks like a credential."""
    from ..config import CREDENTIAL_VALUE

    found = []
    for rel in paths:
        path = root / rel
        if SECRET_FILE_NAMES.search(rel):
            found.append(rel)
        elif path.is_file() and path.stat().st_size < 1_000_000:
            try:
                if CREDENTIAL_VALUE.search(path.read_text(encoding="utf-8", errors="ignore")):
                    found.append(rel)
            except OSError:
                continue
    if found:
        raise SetupError(
            "these files would be pushed to GitHub and look like credentials: "
            + ", ".join(sorted(found)),
            fix="remove them or add them to .gitignore (and revoke any credential in them), "
            "then run again; nothing was committed",
            page=PAGE,
        )


def _changed_paths(git: Git) -> list[str]:
    """Paths git would commit with ``add -A``: changed, deleted and untracked, minus ignored."""
    out = git.run("status", "--porcelain", "--untracked-files=all", "-z")
    entries = [e for e in out.split("\0") if e]
    paths = []
    skip = False
    for entry in entries:
        if skip:  # the source path of a rename
            skip = False
            continue
        if entry[:1] in "RC":
            skip = True
        paths.append(entry[3:])
    return paths


def plan_pr(session: Session, dry_run: bool = False, merge: bool = False) -> Plan:
    from ..github_util import find_pull
    from .ci.secrets import _repo

    settings = session.settings
    s = settings.github
    base, branch, remote = s.default_branch, s.code_branch, s.remote
    plan = Plan("code.pr")
    if without_project(session.settings, plan, "ML code pull request"):
        return plan
    if not (settings.project.dir / ".git").exists():
        raise SetupError(
            f"{session.show_path(settings.project.dir)} is not a git repository yet",
            fix="run `invoke repo` first",
            page=PAGE,
        )
    repo = _repo(session)
    git = Git(session, page=PAGE)
    upstream_base = git.fetch(remote, base)
    if upstream_base is None:
        raise SetupError(
            f"{remote} has no branch {base} to branch from", fix="run `invoke repo`", page=PAGE
        )
    current = git.current_branch()
    last = find_pull(repo, base=base, head=branch, state="all")
    if last is not None and last.merged:
        plan.keep(f"ML code merged into {base} in PR #{last.number}: {last.html_url}")
        _plan_update_base(session, plan, git, current, upstream_base)
        if _changed_paths(git):
            plan.warn(
                "the project has changes that are not in that pull request: open your own pull "
                "request for them (docs/ml-pull-request.md)"
            )
        return plan
    pr = last if last is not None and last.state == "open" else None
    status: list[list[str]] = []  # the working tree's changes, read once: planning writes none

    def changed_paths() -> list[str]:
        if not status:
            status.append(_changed_paths(git))
        return status[0]

    local = git.rev(f"refs/heads/{branch}")
    pushed = git.rev(f"refs/remotes/{remote}/{branch}")
    publish: list[Any] = []  # the changes that put a new head on GitHub
    if (
        last is None
        and local is None
        and current == base
        and git.rev(f"refs/heads/{base}") == upstream_base
        and not changed_paths()
    ):
        # a Project_Only or CICD_Only root: the guide's first commit (`git add .`) held it all
        plan.keep(f"the ML code is already on {base}: no pull request to open")
        return plan
    if local is None:
        if current != base:
            raise SetupError(
                f"the project is on branch {current or '(detached HEAD)'}, not {base}",
                fix=f"`git checkout {base}` and run again",
                page=PAGE,
            )
        local_base = git.rev(f"refs/heads/{base}")
        if local_base != upstream_base:
            if local_base is None or not git.is_ancestor(local_base, upstream_base):
                raise SetupError(
                    f"the local {base} has commits {remote}/{base} lacks",
                    fix="push them with `invoke repo.push` or drop them, then run again",
                    page=PAGE,
                )
            plan.add(
                "update",
                f"local {base} from {remote}",
                lambda: git.run("merge", "--quiet", "--ff-only", f"{remote}/{base}"),
                detail="fast-forward",
            )
        plan.add(
            "create",
            f"branch {branch} from {base}",
            lambda: git.run("checkout", "--quiet", "-b", branch),
        )
    elif current != branch:
        plan.add("switch", f"to branch {branch}", lambda: git.run("checkout", "--quiet", branch))
    if settings.ci.auth_mode != "token":  # the workflows this PR carries read the mode's creds
        from .ci.auth import plan_local_workflows

        plan_local_workflows(session, plan)
    paths = changed_paths()
    if paths:
        _refuse_secrets(settings.project.dir, paths)
        message = COMMIT_MESSAGE.format(project=settings.project.name)

        def commit() -> str:
            git.run("add", "-A")
            git.run("commit", "--quiet", "-m", message)
            return git.rev("HEAD") or ""

        noun = "file" if len(paths) == 1 else "files"
        publish.append(
            plan.add("commit", f"the ML code on {branch}", commit, detail=f"{len(paths)} {noun}")
        )
    elif local is not None:
        plan.keep(f"ML code committed on {branch} ({local[:7]})")
    if pushed is not None and local is not None and not paths and pushed != local:
        if git.is_ancestor(local, pushed):
            plan.warn(f"{remote}/{branch} has commits the local {branch} lacks; using GitHub's")
        elif not git.is_ancestor(pushed, local):
            raise SetupError(
                f"{remote}/{branch} and the local {branch} have diverged",
                fix="merge or rebase them by hand; we never force-push",
                page=PAGE,
            )
    needs_push = bool(paths) or (
        local is not None
        and (pushed is None or (pushed != local and git.is_ancestor(pushed, local)))
    )
    if needs_push:
        publish.append(
            plan.add(
                "push",
                f"{branch} to {remote}",
                lambda: git.run(
                    "push", "--quiet", remote, f"HEAD:refs/heads/{branch}", remote=True
                ),
                kind="create" if pushed is None else "update",
            )
        )
    elif local is not None:
        plan.keep(f"{branch} is on {remote}")
    state: dict[str, Any] = {"pr": pr}
    if pr is None:

        def open_pr() -> int:
            created = _open_pull(session, repo, base, branch)
            state["pr"] = created
            plan.note(f"PR #{created.number}: {created.html_url}")
            return created.number

        publish.append(plan.add("open", f"PR {branch} -> {base}", open_pr))
    else:
        plan.keep(f"PR #{pr.number} {branch} -> {base} is open: {pr.html_url}")
    if publish:
        # Checks start once the new head is on GitHub with its pull request: wait after the
        # last of those changes.
        last_change = publish[-1]
        inner = last_change.apply

        def then_wait() -> Any:
            result = inner()
            git.forget_refs()  # the head as it is now, whatever moved it since the plan
            head = git.rev(f"refs/heads/{branch}") or ""
            state["head"] = head
            _checks_or_fail(session, repo, state["pr"], head)
            return result

        last_change.apply = then_wait
    elif pr is not None:
        head = pr.head.sha
        state["head"] = head
        if dry_run:
            _preview_checks(session, plan, repo, pr, head)
        else:
            _checks_or_fail(session, repo, pr, head)
    if not merge:
        plan.note("merge it once the checks pass: `invoke code --merge`")
        return plan
    _plan_merge(session, plan, git, repo, state, dry_run=dry_run, fresh=bool(publish))
    return plan


def _open_pull(session: Session, repo: Any, base: str, branch: str) -> Any:
    from github import GithubException

    from ..github_util import find_pull
    from ..lost import confirm

    try:
        return confirm(
            lambda: repo.create_pull(
                base=base, head=branch, title=_pr_title(session), body=_pr_body(session)
            ),
            lambda: find_pull(repo, base=base, head=branch),  # never a second PR
            f"opening the pull request {branch} -> {base}",
            fix="run `invoke code.pr` again: it looks for the PR first",
            page=PAGE,
            note=session.out.note,
        )
    except GithubException as exc:
        from ..github_util import api_message

        raise SetupError(
            f"GitHub refused to open the pull request {branch} -> {base} ({exc.status}): "
            f"{api_message(exc)}",
            fix="check that the token may open pull requests (classic: `repo` scope; "
            "fine-grained: Pull requests read and write)",
            page=PAGE,
        ) from None


def _checks_or_fail(session: Session, repo: Any, pr: Any, head: str) -> list[Any]:
    from ..github_util import check_summary, checks_error, failing_checks, wait_for_checks

    what = f"checks on PR #{pr.number} ({head[:7]})"
    runs = wait_for_checks(session, repo, head, what=what)
    if failing_checks(runs):
        raise checks_error(runs, what, page=PAGE)
    if runs:
        session.out.wait_over(what, check_summary(runs))
    else:
        session.out.wait_over(what, "none started; nothing to wait for")
    return runs


def _preview_checks(session: Session, plan: Plan, repo: Any, pr: Any, head: str) -> None:
    """Dry run: the checks as they are now, read once, never waited for."""
    from ..github_util import check_summary, failing_checks

    runs = list(repo.get_commit(head).get_check_runs())
    what = f"checks on PR #{pr.number} ({head[:7]})"
    if not runs:
        plan.keep(f"{what}: none started")
    elif failing_checks(runs):
        plan.warn(f"{what}: {check_summary(runs)}; the apply stops here")
    elif all(r.status == "completed" for r in runs):
        plan.keep(f"{what}: {check_summary(runs)}")
    else:
        plan.keep(f"{what}: {check_summary(runs)}; the apply waits for them")
        plan.waiting = what  # type: ignore[attr-defined]


def _review_gap(repo: Any, pr: Any, base: str) -> str:
    """What review the merge still needs ("" when none)."""
    from ..github_util import approvals, protection

    rules = protection(repo, base)
    approved, changes = approvals(pr)
    if changes:
        return f"changes requested by {', '.join(changes)}"
    if rules is not None and rules.reviews > len(approved):
        noun = "review" if rules.reviews == 1 else "reviews"
        return f"needs {rules.reviews} approving {noun}, has {len(approved)}"
    return ""


def _plan_merge(
    session: Session,
    plan: Plan,
    git: Git,
    repo: Any,
    state: dict[str, Any],
    *,
    dry_run: bool,
    fresh: bool,
) -> None:
    from ..github_util import Waiting, merge_pull

    s = session.settings.github
    base, branch = s.default_branch, s.code_branch
    pr = state["pr"]
    if not fresh and pr is not None:
        gap = _review_gap(repo, pr, base)
        if gap:
            text = f"waiting for review: PR #{pr.number} {gap}: {pr.html_url}"
            if not dry_run:
                raise Waiting(
                    text, fix="run again once it is approved: it resumes at the merge", page=PAGE
                )
            plan.warn(text)
            plan.waiting = f"review of PR #{pr.number}"  # type: ignore[attr-defined]
            return
        target = f"PR #{pr.number} {branch} -> {base}"
        detail = f"{s.merge_method}, head {state['head'][:7]}"
    else:
        target = f"PR {branch} -> {base}"
        detail = s.merge_method

    def apply() -> str:
        the_pr = state["pr"]
        if fresh:
            gap = _review_gap(repo, the_pr, base)
            if gap:
                raise Waiting(
                    f"waiting for review: PR #{the_pr.number} {gap}: {the_pr.html_url}",
                    fix="run again once it is approved: it resumes at the merge",
                    page=PAGE,
                )
        return merge_pull(
            session,
            the_pr,
            sha=state["head"],
            method=s.merge_method,
            what=f"PR #{the_pr.number}",
            page=PAGE,
        )

    plan.add("merge", target, apply, detail=detail)
    plan.add(
        "update",
        f"local {base} from {s.remote}",
        lambda: _update_base(session, git),
        detail=f"and check out {base}",
    )


def _plan_update_base(
    session: Session, plan: Plan, git: Git, current: str | None, upstream_base: str
) -> None:
    s = session.settings.github
    base = s.default_branch
    local_base = git.rev(f"refs/heads/{base}")
    if local_base == upstream_base and current == base:
        plan.keep(f"local {base} is up to date with {s.remote}")
        return
    if local_base is not None and not git.is_ancestor(local_base, upstream_base):
        plan.warn(f"the local {base} has commits {s.remote}/{base} lacks; left as it is")
        return
    # The PR was merged in an earlier run; GitHub (the source of truth) has moved on since,
    # through later merges. Keeping a local clone current is not this step's job any more.
    plan.note(
        f"the local {base} is behind {s.remote}/{base}: `git checkout {base} && git pull "
        f"--ff-only {s.remote} {base}` brings it up to date"
    )


def _update_base(session: Session, git: Git) -> str:
    """Fast-forward the local default branch to ``upstream`` and check it out."""
    s = session.settings.github
    base, remote = s.default_branch, s.remote
    git.fetch(remote, base)
    if git.current_branch() == base:
        git.run("merge", "--quiet", "--ff-only", f"{remote}/{base}")
    else:
        # Move the branch ref first (fast-forward only), then switch: the working tree never
        # passes through a state without the ML code.
        git.run("fetch", "--quiet", remote, f"refs/heads/{base}:refs/heads/{base}", remote=True)
        git.run("checkout", "--quiet", base)
    return git.rev("HEAD") or ""


STEP = Step("code.pr", "the pull request with the ML code", plan_pr)
STEPS = (STEP,)


@task(name="pr", default=True, help={"dry_run": DRY_RUN_HELP, "merge": MERGE_HELP})
def pr(c, dry_run=False, merge=False):
    """Commit the ML code on a branch, open its PR, wait for checks (--merge)."""
    run_step(c, STEP, dry_run=dry_run, merge=merge)


ns = Collection("code", pr)
