"""Guide section "Create a hosted Git repo".

The guide: create a repo on GitHub, put the project under git, and push the docs (README.md,
docs/, .gitignore and the resources README; everything in a CICD_Only or Project_Only root) to
the project's default branch so the CI/CD bootstrap can run there.

* ``repo.create``: the GitHub repo exists (created private in the org or user account if not).
* ``repo.init``: the project is a git repo on the default branch with remote ``upstream`` -> the
  GitHub repo; the tool's state folder is kept out of git through ``.git/info/exclude``.
* ``repo.push``: the configured doc paths are committed to the default branch and pushed; never a
  force-push, never the token in ``.git/config``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from invoke import Collection, task

from ..changes import Plan, SetupError
from ..gitops import CREDENTIAL_IN_URL, Git, same_url
from ..session import DRY_RUN_HELP, Session, Step, run_step, run_steps

PAGE = "repo.md"
FIRST_COMMIT_MESSAGE = "Add MLOps Stacks docs and README"


# ------------------------------------------------------------------------------ repo.create


def _github_repo(session: Session) -> Any:
    """The GitHub repo object, or None when it does not exist (or is invisible to us)."""
    from github import GithubException, UnknownObjectException

    s = session.settings.github

    def load() -> Any:
        try:
            return session.clients.github.get_repo(s.full_name)
        except UnknownObjectException:
            return None
        except GithubException as exc:
            if exc.status in (401, 403):
                raise SetupError(
                    f"GitHub refused to show {s.full_name} ({exc.status}): the token lacks access",
                    fix="use a token with the `repo` scope (fine-grained: Administration and "
                    f"Contents read/write on {s.owner})",
                    page=PAGE,
                ) from None
            raise

    return session.cached("github.repo", load)


def require_repo(session: Session, page: str = PAGE) -> Any:
    """The GitHub repo object, for the steps after this section; a clear error when
    ``repo.create`` has not run (or the token cannot see the repo)."""
    repo = _github_repo(session)
    if repo is None:
        raise SetupError(
            f"GitHub repo {session.settings.github.full_name} does not exist (or this token "
            "cannot see it)",
            fix="run `invoke repo` first",
            page=page,
        )
    return repo


def plan_create(session: Session, dry_run: bool = False) -> Plan:
    s = session.settings.github
    plan = Plan("repo.create")
    repo = _github_repo(session)
    if repo is not None:
        shown = "private" if repo.private else "public"
        plan.keep(f"GitHub repo {s.full_name} exists ({shown})")
        wanted_private = s.visibility != "public"
        if repo.private != wanted_private:
            plan.warn(
                f"{s.full_name} is {shown} but the config asks for {s.visibility}; "
                "left as it is (change it in the repo settings if you mean it)"
            )
        return plan
    owner_kind = _owner_kind(session)
    where = "organisation" if owner_kind == "org" else "user account"

    def create() -> Any:
        from ..lost import confirm

        def made() -> Any:  # read afresh: the plan's "not there" is stale now
            session.cache.pop("github.repo", None)
            return _github_repo(session)

        created = confirm(
            lambda: _create_repo(session, owner_kind),
            made,
            f"creating GitHub repo {s.full_name}",
            fix="run `invoke repo.create` again: it looks for the repo first",
            page=PAGE,
            note=plan.note,
        )
        session.cache["github.repo"] = created
        session.journal.made("github_repo", created.full_name)  # setup.destroy --delete-repo
        return created.full_name

    plan.add("create", f"GitHub repo {s.full_name}", create, detail=f"{s.visibility}, in {where}")
    return plan


def _owner_kind(session: Session) -> str:
    s = session.settings.github
    if s.owner_type != "auto":
        return s.owner_type
    from github import UnknownObjectException

    try:
        owner = session.clients.github.get_user(s.owner)
    except UnknownObjectException:
        raise SetupError(
            f"GitHub has no user or organisation named {s.owner!r}",
            fix="check github.owner in your config",
            page=PAGE,
        ) from None
    return "org" if owner.type == "Organization" else "user"


def _create_repo(session: Session, owner_kind: str) -> Any:
    from github import GithubException

    s = session.settings.github
    gh = session.clients.github
    description = (
        f"MLOps Stacks project {session.settings.project.name or session.settings.github.repo}"
    )
    try:
        if owner_kind == "org":
            return gh.get_organization(s.owner).create_repo(
                s.repo,
                description=description,
                private=s.visibility != "public",
                visibility=s.visibility,
                auto_init=False,
            )
        me = gh.get_user()
        if me.login.lower() != s.owner.lower():
            raise SetupError(
                f"the GitHub token belongs to {me.login}, not to {s.owner}",
                fix=f"use a token of {s.owner}, or set github.owner_type: org if it is an org",
                page=PAGE,
            )
        return me.create_repo(s.repo, description=description, private=s.visibility != "public")
    except GithubException as exc:
        if exc.status == 403:
            raise SetupError(
                f"GitHub refused to create {s.full_name} (403): you may not create repos "
                f"in {s.owner}",
                fix=f"ask an owner of {s.owner} for the right to create repositories, or to "
                "create the repo for you",
                page=PAGE,
            ) from None
        if exc.status == 422:
            raise SetupError(
                f"GitHub says {s.full_name} already exists, but this token cannot see it",
                fix="give the token access to that repo, or choose another github.repo",
                page=PAGE,
            ) from None
        raise


# -------------------------------------------------------------------------------- repo.init


def _is_git_repo(path: Path) -> bool:
    return (path / ".git").exists()


def plan_init(session: Session, dry_run: bool = False) -> Plan:
    settings = session.settings
    s = settings.github
    root = settings.project.dir
    plan = Plan("repo.init")
    git = Git(session)
    if _is_git_repo(root):
        plan.keep(f"{session.show_path(root)} is a git repository")
    else:
        plan.add(
            "init",
            f"git repository in {session.show_path(root)}",
            lambda: git.run("init", f"--initial-branch={s.default_branch}"),
            detail=f"branch {s.default_branch}",
        )
    remote_url = git.remote_url(s.remote) if _is_git_repo(root) else None
    if remote_url is None:
        plan.add(
            "add",
            f"remote {s.remote} -> {_display_url(s.git_url, session)}",
            lambda: git.run("remote", "add", s.remote, s.git_url),
        )
    elif CREDENTIAL_IN_URL.match(remote_url):
        raise SetupError(
            f"remote {s.remote} has a credential inside its URL; it is stored in .git/config",
            fix=f"run `git remote set-url {s.remote} {_display_url(s.git_url)}` and revoke that "
            "credential",
            page=PAGE,
        )
    elif same_url(remote_url, s.git_url):
        plan.keep(f"remote {s.remote} -> {_display_url(s.git_url, session)}")
    else:
        raise SetupError(
            f"remote {s.remote} points at {_display_url(remote_url)}, not at "
            f"{_display_url(s.git_url)}",
            fix=f"point it there yourself (`git remote set-url {s.remote} "
            f"{_display_url(s.git_url)}`) or set "
            "github.remote to another name; we do not overwrite remotes",
            page=PAGE,
        )
    exclude = root / ".git" / "info" / "exclude"
    pattern = _state_pattern(settings)
    if pattern and not (exclude.exists() and pattern in exclude.read_text().splitlines()):
        plan.add(
            "exclude",
            f"{pattern} from git",
            lambda: _append_line(exclude, pattern),
            detail="the tool's local journal, in .git/info/exclude",
        )
    return plan


def _state_pattern(settings: Any) -> str | None:
    try:
        rel = Path(settings.state_dir).resolve().relative_to(settings.project.dir)
    except ValueError:
        return None  # the state folder is outside the project: nothing to exclude
    return f"/{rel.as_posix()}/"


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n")


def _display_url(url: str, session: Session | None = None) -> str:
    if session is not None and "://" not in url:
        return session.show_path(url)
    return re.sub(r"//[^/@]+@", "//***@", url)


# -------------------------------------------------------------------------------- repo.push


def plan_push(session: Session, dry_run: bool = False) -> Plan:
    settings = session.settings
    s = settings.github
    root = settings.project.dir
    plan = Plan("repo.push")
    if not _is_git_repo(root):
        if dry_run:
            plan.note("repo.init has not run yet; after it, this step commits and pushes:")
            label = _paths_label(settings)
            plan.add("commit", label, lambda: None, detail=f"on {s.default_branch}")
            plan.add("push", f"{s.default_branch} to {s.remote}", lambda: None, kind="create")
            return plan
        raise SetupError(f"{root} is not a git repository", fix="run `invoke repo.init`", page=PAGE)
    git = Git(session)
    if git.remote_url(s.remote) is None:
        raise SetupError(f"no remote {s.remote}", fix="run `invoke repo.init`", page=PAGE)
    paths = _first_commit_paths(settings)
    remote_sha = git.fetch(s.remote, s.default_branch)
    dirty = git.status(*paths)  # and HEAD's branch and commit
    branch = git.current_branch()
    if branch != s.default_branch:
        # Later steps work on other branches (code.pr's add-ml-code): once the local default
        # branch is on GitHub, this step is done, whatever branch the project is on now.
        local_default = git.rev(f"refs/heads/{s.default_branch}")
        if local_default and remote_sha and git.is_ancestor(local_default, remote_sha):
            plan.keep(f"{_paths_label(settings)} committed on {s.default_branch}")
            plan.keep(f"{s.remote}/{s.default_branch} has it (the project is on branch {branch})")
            return plan
        raise SetupError(
            f"the project is on branch {branch or '(detached HEAD)'}, not {s.default_branch}",
            fix=f"`git checkout {s.default_branch}` and run again",
            page=PAGE,
        )
    local_sha = git.rev("HEAD")
    if remote_sha is not None and local_sha is None:
        raise SetupError(
            f"{s.remote}/{s.default_branch} already has commits, so the local first commit would "
            "start a history unrelated to it; the GitHub repo was not empty",
            fix="use a new, empty repo, or clone it and copy the project in; we never force-push",
            page=PAGE,
        )
    if local_sha is None or dirty:
        what = "first commit" if local_sha is None else "changes to"

        def commit() -> str:
            git.run("add", "--", *paths)
            git.run("commit", "--quiet", "-m", FIRST_COMMIT_MESSAGE, "--", *paths)
            return git.rev("HEAD") or ""

        plan.add("commit", _paths_label(settings), commit, detail=f"{what} on {s.default_branch}")
    else:
        plan.keep(f"{_paths_label(settings)} committed on {s.default_branch}")
    will_commit = bool(plan.changes)
    if remote_sha is not None and local_sha is not None:
        if not git.related(local_sha, remote_sha):
            raise SetupError(
                f"{s.remote}/{s.default_branch} has a history unrelated to the local "
                f"{s.default_branch}; the GitHub repo was not empty",
                fix="use a new, empty repo, or merge its history by hand; we never force-push",
                page=PAGE,
            )
        if remote_sha == local_sha and not will_commit:
            plan.keep(f"{s.remote}/{s.default_branch} is up to date")
            return plan
        if not will_commit and git.is_ancestor(local_sha, remote_sha):
            # Later steps merge into the default branch on GitHub (the CI/CD and ML code PRs):
            # GitHub is ahead, and this step's work is there.
            plan.keep(f"{s.remote}/{s.default_branch} has it, and more (GitHub is ahead)")
            return plan
        if not git.is_ancestor(remote_sha, local_sha):
            raise SetupError(
                f"{s.remote}/{s.default_branch} has commits the local {s.default_branch} lacks: "
                "a push would not be a fast-forward",
                fix=f"`git pull --ff-only {s.remote} {s.default_branch}` (or rebase), then run "
                "again; we never force-push",
                page=PAGE,
            )
    plan.add(
        "push",
        f"{s.default_branch} to {s.remote}",
        lambda: git.run(
            "push", "--quiet", s.remote, f"HEAD:refs/heads/{s.default_branch}", remote=True
        ),
        detail=_display_url(s.git_url, session),
        kind="create" if remote_sha is None else "update",  # a new branch on the remote, or not
    )
    return plan


def _first_commit_paths(settings: Any) -> list[str]:
    root = settings.project.dir
    missing = [p for p in settings.github.first_commit_paths if not (root / p).exists()]
    if missing:
        raise SetupError(
            f"the first commit should hold {', '.join(missing)}, missing from {root}",
            fix="generate the project with its docs (not Project_Only), or adjust "
            "github.first_commit_paths",
            page=PAGE,
        )
    return list(settings.github.first_commit_paths)


def _paths_label(settings: Any) -> str:
    paths = settings.github.first_commit_paths
    return "the whole tree (git add .)" if list(paths) == ["."] else ", ".join(paths)


# ------------------------------------------------------------------------------------ tasks

CREATE = Step("repo.create", "the GitHub repository", plan_create)
INIT = Step("repo.init", "the local git repository and its remote", plan_init)
PUSH = Step("repo.push", "the first commit on the default branch", plan_push)
STEPS = (CREATE, INIT, PUSH)


@task(help={"dry_run": DRY_RUN_HELP})
def create(c, dry_run=False):
    """Create the GitHub repo (private) if it does not exist."""
    run_step(c, CREATE, dry_run=dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def init(c, dry_run=False):
    """Make the project a git repo on the default branch with remote upstream."""
    run_step(c, INIT, dry_run=dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def push(c, dry_run=False):
    """Commit the docs to the default branch and push them to upstream."""
    run_step(c, PUSH, dry_run=dry_run)


@task(name="all", default=True, help={"dry_run": DRY_RUN_HELP})
def all_(c, dry_run=False):
    """Create the repo, init git, push the docs: the whole section."""
    run_steps(c, STEPS, dry_run=dry_run)


ns = Collection("repo", create, init, push, all_)
