"""git, run for real (through GitPython's command runner), for one project.

Every command gets the run's environment (tests and the demo pin author and dates there, so
commit SHAs are reproducible) and, for commands that talk to the remote, the auth header from
:meth:`mlops_setup.clients.Clients.git_env`: never a token in ``.git/config`` or the URL.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from .changes import SetupError

REMOTE_URL = "git.remote_url\0"  # session.cache keys: the prefix, the repository, the remote
CREDENTIAL_IN_URL = re.compile(r"^[a-z+]+://[^/@]+@", re.IGNORECASE)


def same_url(a: str, b: str) -> bool:
    """Do two remote URLs name the same repository (``.git``, case, ssh form, local paths)?"""

    def norm(u: str) -> str:
        u = u.strip().rstrip("/")
        u = re.sub(r"\.git$", "", u)
        # scp-like ssh (git@github.com:o/r, a GHE.com tenant's acme@acme.ghe.com:o/r) and
        # ssh:// URLs name the same repository as https://HOST/o/r
        u = re.sub(r"^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):(?!//)", r"https://\1/", u)
        u = re.sub(r"^ssh://[^@/]+@([^/:]+)(:\d+)?/", r"https://\1/", u, flags=re.IGNORECASE)
        if "://" not in u:
            u = str(Path(u).resolve())
        return u.lower()

    return norm(a) == norm(b)


class GitFailed(SetupError):
    def __init__(self, args: tuple[str, ...], code: int, stderr: str, page: str) -> None:
        detail = [ln for ln in (stderr or "").strip().splitlines() if not ln.startswith("hint:")]
        last = detail[0] if detail else f"exit code {code}"
        super().__init__(
            f"git {' '.join(args[:2])} failed: {last}",
            fix="check the remote URL and that your GitHub token may push to the repo",
            page=page,
        )


# Commands that never move a ref or HEAD: the snapshot of the refs (:meth:`Git.refs`) outlives
# them. Any other command run through :class:`Git` (commit, checkout, fetch, push, ...) drops it.
READS = frozenset(
    {"rev-parse", "status", "for-each-ref", "merge-base", "cat-file", "log", "diff", "ls-files"}
)
SNAPSHOT_FORMAT = "%(HEAD) %(objecttype) %(objectname) %(refname)"


def _reads_only(args: tuple[str, ...]) -> bool:
    if args[:2] == ("remote", "get-url"):
        return True
    if args[:1] == ("symbolic-ref",):  # a query (``symbolic-ref [opts] HEAD``), not a change
        return len([a for a in args[1:] if not a.startswith("-")]) <= 1
    return args[:1] != () and args[0] in READS


class Refs:
    """One ``git for-each-ref`` of the local branches and remote-tracking refs: their commits,
    and the branch HEAD is on (``%(HEAD)``), read by one process instead of one per ref."""

    def __init__(self, listing: str) -> None:
        self.commits: dict[str, str] = {}
        self.other: set[str] = set()  # refs to something other than a commit: ask rev-parse
        self.head_branch: str | None = None  # the branch HEAD is on
        self.head_known = False  # False: HEAD is on no branch listed here (detached, or unborn)
        for line in listing.splitlines():
            mark, kind, sha, name = line[:1], *line[2:].split(" ", 2)
            if kind == "commit":
                self.commits[name] = sha
            else:
                self.other.add(name)
            if mark == "*" and name.startswith("refs/heads/"):
                self.head_branch = name.removeprefix("refs/heads/")
                self.head_known = True


class Git:
    """git in the project's folder. The refs are read once (:meth:`refs`) and remembered until
    this object runs a command that may move one: plan functions make a new ``Git`` per step,
    so a step sees what others (a colleague, another step) did to the repository before it."""

    def __init__(self, session: Any, page: str = "repo.md") -> None:
        self.session = session
        self.root = session.settings.project.dir
        self.page = page
        self._refs: Refs | None = None
        self._head: tuple[str | None, str | None] | None = None  # (branch, commit), by status

    def forget_refs(self) -> None:
        """Read the refs and HEAD afresh at the next question (someone else may have moved
        them: a step that waited, for checks say, before it asks again)."""
        self._refs = self._head = None

    def env(self, remote: bool = False) -> dict[str, str]:
        env = {**os.environ, **self.session.env, "GIT_TERMINAL_PROMPT": "0"}
        if remote:
            env.update(self.session.clients.git_env(env))
        return env

    def _run(self, args: tuple[str, ...], remote: bool) -> subprocess.CompletedProcess:
        # GitPython's command runner: it sets LC_ALL=C (so git's messages are English and can be
        # matched), takes our environment per call and never raises on a non-zero exit here.
        from git.cmd import Git as GitCommand

        status, out, err = GitCommand(str(self.root)).execute(
            ["git", *args],
            env=self.env(remote),
            with_extended_output=True,
            with_exceptions=False,
        )
        return subprocess.CompletedProcess(args, status, out, err)

    def run(self, *args: str, remote: bool = False, check: bool = True) -> str:
        if remote:
            self.check_remote()
        if args[:1] in (("init",), ("remote",), ("config",)) and args[1:2] != ("get-url",):
            self._forget_remotes()  # what remote_url read may change
        if not _reads_only(args):
            self.forget_refs()  # it may move a ref or HEAD
        done = self._run(args, remote)
        if check and done.returncode != 0:
            raise GitFailed(args, done.returncode, done.stderr, self.page)
        return done.stdout.strip()

    def check_remote(self) -> None:
        """Talk to the remote only if it is the configured repository: the GitHub token goes
        with every such command, and must never go to a URL someone slipped into .git/config."""
        settings = self.session.settings.github
        url = self.remote_url(settings.remote)
        if url is None or not same_url(url, settings.git_url) or CREDENTIAL_IN_URL.match(url):
            shown = "no such remote" if url is None else re.sub(r"//[^/@]+@", "//***@", url)
            raise SetupError(
                f"remote {settings.remote} is not {settings.git_url} ({shown}); nothing was "
                "sent to it",
                fix="run `invoke repo.init`, which reports what to change",
                page="repo.md",
            )

    def succeeds(self, *args: str) -> bool:
        if not _reads_only(args):
            self.forget_refs()
        return self._run(args, remote=False).returncode == 0

    def refs(self) -> Refs:
        """The local branches and remote-tracking refs, as of the last command that may have
        moved one (read again after it)."""
        if self._refs is None:
            listing = self.run(
                "for-each-ref", f"--format={SNAPSHOT_FORMAT}", "refs/heads", "refs/remotes"
            )
            self._refs = Refs(listing)
        return self._refs

    def rev(self, ref: str) -> str | None:
        """The commit ``ref`` names (None: none). A full branch or remote-tracking ref name, or
        ``HEAD`` on a branch, is looked up in :meth:`refs`; anything else asks ``rev-parse``."""
        if ref.startswith(("refs/heads/", "refs/remotes/")) and ref not in self.refs().other:
            return self.refs().commits.get(ref)
        if ref == "HEAD" and self._head is not None:
            return self._head[1]
        if ref == "HEAD":
            branch = self.current_branch()
            if branch is not None:  # on a branch: its commit, or None before the first commit
                return self.rev(f"refs/heads/{branch}")
        out = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return out or None

    def remote_url(self, remote: str) -> str | None:
        """The URL of ``remote`` (None: no such remote), read once per session and repository
        (a setup asks before every fetch and push): forgotten when this class runs a command
        that may change it (``init``, ``remote add/set-url/...``, ``config``)."""
        return self.session.cached(
            f"{REMOTE_URL}{self.root}\0{remote}",
            lambda: self.run("remote", "get-url", remote, check=False) or None,
        )

    def _forget_remotes(self) -> None:
        for key in [k for k in self.session.cache if k.startswith(REMOTE_URL)]:
            del self.session.cache[key]

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.succeeds("merge-base", "--is-ancestor", a, b)

    def related(self, a: str, b: str) -> bool:
        return self.succeeds("merge-base", a, b)

    def fetch(self, remote: str, branch: str) -> str | None:
        """Fetch from ``remote``; return the SHA of its ``branch``, or None if it has none."""
        self.run("fetch", "--quiet", "--no-tags", "--prune", remote, remote=True)
        return self.rev(f"refs/remotes/{remote}/{branch}")

    def current_branch(self) -> str | None:
        """The branch HEAD is on (None: a detached HEAD), born or not."""
        if self._head is not None:
            return self._head[0]
        refs = self.refs()
        if not refs.head_known:  # detached, or on a branch without a commit yet: ask
            refs.head_branch = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
            refs.head_branch = refs.head_branch or None
            refs.head_known = True
        return refs.head_branch

    def status(self, *paths: str) -> list[str]:
        """The changes in ``paths`` (``git status --porcelain=v2``, untracked files one by one),
        one entry each; HEAD's branch and commit come with them (``--branch``), and
        :meth:`current_branch` and ``rev("HEAD")`` answer from them until a command may move
        HEAD (a branch not born yet needs no ``symbolic-ref`` of its own)."""
        out = self.run(
            "status", "--porcelain=v2", "--branch", "--untracked-files=all", "-z", "--", *paths
        )
        header = {}
        entries = []
        for item in out.split("\0"):
            if item.startswith("# "):
                key, _, value = item[2:].partition(" ")
                header[key] = value
            elif item:
                entries.append(item)
        branch, commit = header.get("branch.head"), header.get("branch.oid")
        self._head = (
            None if branch in (None, "(detached)") else branch,
            None if commit in (None, "(initial)") else commit,
        )
        return entries
