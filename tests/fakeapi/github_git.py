"""Fake GitHub: git references and commit comparison (guide section "Create release branch").

The state is the bare repository standing in for GitHub's copy (``world.gh["git_dir"]``): a
branch exists on the fake exactly when it exists there, so what local git pushed and what
the refs API reports always agree. Changes made through the API (creating or moving a ref)
go through ``world.server_git`` so replays make them too (see ``mlops_setup/replay.py``).

As on api.github.com (REST 2022-11-28, "Git database / References" and "Commits / Compare"):

* ``GET /repos/{o}/{r}/git/ref/{ref}``: 200 ``git-ref``; 404 if missing; 409 "Git Repository
  is empty." when the repo has no commits.
* ``POST /repos/{o}/{r}/git/refs`` {ref, sha}: 201; 422 "Reference already exists" / "Object
  does not exist".
* ``PATCH /repos/{o}/{r}/git/refs/{ref}`` {sha, force}: 200; 422 "Update is not a fast forward"
  unless ``force``; 422 "Reference does not exist".
* ``GET /repos/{o}/{r}/compare/{base}...{head}``: ``commit-comparison``; ``status`` says where
  *head* stands relative to *base*: ``ahead`` (head has commits base lacks, and base is an
  ancestor), ``behind``, ``diverged`` or ``identical``; ``ahead_by``/``behind_by`` count them.

A branch created or moved here is a push: it starts the workflow runs due (:func:`pushed`,
below), kept in ``github_actions``' state.

Extra state in ``world.gh``: ``refs_forbidden`` (repos whose ref writes answer 403, as for a
token without ``contents: write``); ``next_push_run`` ({"conclusion", "polls"}) for the runs
pushes start (default success after 2 polls).
"""

from __future__ import annotations

import subprocess

from tests import github_samples as samples
from tests.fakeapi import Reply, World, github_error, route
from tests.fakeapi.github_repos import NAME, CatFile, repos
from tests.fakeapi.github_repos import git as repo_git

REPO = rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})"


def git(world: World, *args: str, check: bool = True) -> str:
    """Read or change the bare repository standing in for GitHub's copy; failures raise."""
    return repo_git(world, *args, check=check)


def resolve(world: World, name: str) -> str | None:
    """A branch name, ``heads/<b>`` or a SHA -> the commit SHA, or None."""
    with CatFile(world) as objects:
        return objects.commit(f"refs/heads/{name}", f"refs/{name}", name)


def is_empty(world: World) -> bool:
    return not git(world, "for-each-ref", "--count=1", "refs/heads", check=False)


def _repo_or_404(world: World, req) -> tuple[str, str, Reply | None]:
    owner, name = req.params["owner"], req.params["repo"]
    if f"{owner}/{name}" not in repos(world):
        return owner, name, github_error(404, "Not Found")
    return owner, name, None


def _forbidden(world: World, owner: str, name: str) -> Reply | None:
    if f"{owner}/{name}" in world.gh.get("refs_forbidden", ()):
        return github_error(403, "Resource not accessible by personal access token")
    return None


@route("GET", "github", rf"{REPO}/git/ref/(?P<ref>.+)")
def get_ref(world: World, req) -> Reply:
    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    if is_empty(world):
        return github_error(409, "Git Repository is empty.")
    ref = req.params["ref"]
    sha = git(world, "rev-parse", "--verify", "--quiet", f"refs/{ref}", check=False)
    if not sha:
        return github_error(404, "Not Found")
    return Reply(200, samples.git_ref(f"refs/{ref}", sha, owner=owner, repo=name))


@route("POST", "github", rf"{REPO}/git/refs")
def create_ref(world: World, req) -> Reply:
    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    if denied := _forbidden(world, owner, name):
        return denied
    body = req.json or {}
    ref, sha = body.get("ref", ""), body.get("sha", "")
    if not ref.startswith("refs/") or ref.count("/") < 2:
        return github_error(422, "Reference name must start with 'refs/' and have two slashes")
    if git(world, "rev-parse", "--verify", "--quiet", ref, check=False):
        return github_error(422, "Reference already exists")
    if not _exists(world, sha):
        return github_error(422, "Object does not exist")
    world.server_git("update_ref", ref=ref.removeprefix("refs/heads/"), sha=sha)
    if ref.startswith("refs/heads/"):
        pushed(world, f"{owner}/{name}", ref.removeprefix("refs/heads/"), None, sha)
    return Reply(201, samples.git_ref(ref, sha, owner=owner, repo=name))


def _exists(world: World, sha: str) -> bool:
    done = subprocess.run(
        ["git", "--git-dir", str(world.gh["git_dir"]), "cat-file", "-e", f"{sha}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@route("PATCH", "github", rf"{REPO}/git/refs/(?P<ref>.+)")
def update_ref(world: World, req) -> Reply:
    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    if denied := _forbidden(world, owner, name):
        return denied
    ref = f"refs/{req.params['ref']}"
    body = req.json or {}
    sha, force = body.get("sha", ""), bool(body.get("force", False))
    old = git(world, "rev-parse", "--verify", "--quiet", ref, check=False)
    if not old:
        return github_error(422, "Reference does not exist")
    if not _exists(world, sha):
        return github_error(422, "Object does not exist")
    fast_forward = (
        subprocess.run(
            ["git", "--git-dir", str(world.gh["git_dir"]), "merge-base", "--is-ancestor", old, sha],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not fast_forward and not force:
        return github_error(422, "Update is not a fast forward")
    world.server_git("update_ref", ref=ref.removeprefix("refs/heads/"), sha=sha)
    if ref.startswith("refs/heads/"):
        pushed(world, f"{owner}/{name}", ref.removeprefix("refs/heads/"), old, sha)
    return Reply(200, samples.git_ref(ref, sha, owner=owner, repo=name))


def commit_body(world: World, sha: str, *, owner: str, repo: str) -> dict:
    """``commit`` for ``sha``: the sample shape with the real parent and message."""
    parents = git(world, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    body = samples.branch(
        "x", sha, parent_sha=parents[0] if parents else None, owner=owner, repo=repo
    )["commit"]
    body["commit"]["message"] = git(world, "log", "-1", "--format=%B", sha)
    for extra in parents[1:]:
        body["parents"].append(
            {
                "sha": extra,
                "url": f"{samples.API_URL}/repos/{owner}/{repo}/commits/{extra}",
                "html_url": f"{samples.WEB_URL}/{owner}/{repo}/commit/{extra}",
            }
        )
    return body


STATUS = {"A": "added", "D": "removed", "M": "modified", "T": "changed"}


def diff_entries(world: World, base: str, head: str, *, owner: str, repo: str) -> list[dict]:
    """``diff-entry`` items: the files changed from ``base`` to ``head`` (no patches)."""
    counts = {}
    for line in git(world, "diff", "--numstat", "--no-renames", base, head).splitlines():
        added, deleted, path = line.split("\t", 2)
        counts[path] = (int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0)
    out = []
    for line in git(world, "diff", "--name-status", "--no-renames", base, head).splitlines():
        code, path = line.split("\t", 1)
        added, deleted = counts.get(path, (0, 0))
        removed = code == "D"
        blob = None if removed else git(world, "rev-parse", f"{head}:{path}")
        ref = base if removed else head
        out.append(
            {
                "sha": blob,
                "filename": path,
                "status": STATUS.get(code[0], "modified"),
                "additions": added,
                "deletions": deleted,
                "changes": added + deleted,
                "blob_url": f"{samples.WEB_URL}/{owner}/{repo}/blob/{ref}/{path}",
                "raw_url": f"{samples.WEB_URL}/{owner}/{repo}/raw/{ref}/{path}",
                "contents_url": f"{samples.API_URL}/repos/{owner}/{repo}/contents/{path}?ref={ref}",
            }
        )
    return out


@route("GET", "github", rf"{REPO}/compare/(?P<basehead>.+)")
def compare(world: World, req) -> Reply:
    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    base_name, sep, head_name = req.params["basehead"].partition("...")
    base, head = resolve(world, base_name), resolve(world, head_name) if sep else None
    if base is None or head is None:
        return github_error(404, "Not Found")
    merge_base = git(world, "merge-base", base, head, check=False)
    if not merge_base:
        return github_error(404, f"No common ancestor between {base_name} and {head_name}.")
    ahead = git(world, "rev-list", "--reverse", f"{base}..{head}").split()
    behind = git(world, "rev-list", f"{head}..{base}").split()
    if not ahead and not behind:
        status = "identical"
    elif ahead and not behind:
        status = "ahead"
    elif behind and not ahead:
        status = "behind"
    else:
        status = "diverged"
    full_name = f"{owner}/{name}"
    api = f"{samples.API_URL}/repos/{full_name}"
    web = f"{samples.WEB_URL}/{full_name}"
    basehead = req.params["basehead"]
    return Reply(
        200,
        {
            "url": f"{api}/compare/{basehead}",
            "html_url": f"{web}/compare/{basehead}",
            "permalink_url": f"{web}/compare/{owner}:{base[:7]}...{owner}:{head[:7]}",
            "diff_url": f"{web}/compare/{basehead}.diff",
            "patch_url": f"{web}/compare/{basehead}.patch",
            "base_commit": commit_body(world, base, owner=owner, repo=name),
            "merge_base_commit": commit_body(world, merge_base, owner=owner, repo=name),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [commit_body(world, sha, owner=owner, repo=name) for sha in ahead],
            "files": diff_entries(world, merge_base, head, owner=owner, repo=name),
        },
    )


# ----------------------------------------------------------------- pushes start workflow runs
#
# A push to a branch starts the runs of the workflows that declare ``on: push`` for it (read
# from the pushed commit, as GitHub does), when the changed files pass their ``paths`` filter.
# GitHub's diff for that filter: old..new for an existing branch; for a new branch, the pushed
# head against its parent. Branches moved through the refs API above start them by
# themselves; a test that pushes with local git calls :func:`pushed` to say GitHub saw it.
# The runs live in ``github_actions``' state: they are listed, polled (one state per GET) and
# reported by its handlers.

DEFAULT_PUSH_RUN = {"conclusion": "success", "polls": 2}


def _push_triggers(text: str) -> dict | None:
    """``on.push`` of a workflow (``{}`` for a bare ``push``), None without that trigger."""
    from tests.fakeapi.github_actions import triggers

    on = triggers(text)
    if "push" not in on:
        return None
    return on.get("push") or {}


def _glob_matches(pattern: str, path: str) -> bool:
    import fnmatch

    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2])
    return fnmatch.fnmatchcase(path, pattern)


def pushed(
    world: World,
    full_name: str,
    branch: str,
    before: str | None,
    after: str,
    *,
    conclusion: str | None = None,
    polls: int | None = None,
) -> list[int]:
    """GitHub saw ``branch`` move from ``before`` (None: created) to ``after``: start the push
    runs due. ``conclusion``/``polls`` (else ``world.gh["next_push_run"]``, default success after
    2 polls) say how they go. Returns the new run ids."""
    from tests.fakeapi import github_actions as actions

    spec = {**DEFAULT_PUSH_RUN, **world.gh.get("next_push_run", {})}
    if conclusion is not None:
        spec["conclusion"] = conclusion
    if polls is not None:
        spec["polls"] = polls
    with CatFile(world) as objects:  # the workflows folder and its files: one git process
        workflows = objects.folder(after, ".github/workflows", (".yml", ".yaml"))
    changed: list[str] | None = None  # asked for by a `paths` filter only
    started = []
    for path, text in workflows.items():
        push = _push_triggers(text)
        if push is None:
            continue
        branches = push.get("branches")
        if branches is not None and branch not in branches:
            continue
        paths = push.get("paths")
        if paths is not None:
            if changed is None:
                changed = _changed_files(world, before, after)
            if not any(_glob_matches(p, f) for p in paths for f in changed):
                continue
        run_id = actions.FIRST_RUN_ID + len(actions.runs(world))
        actions.runs(world)[run_id] = {
            "id": run_id,
            "full": full_name,
            "path": path,
            "name": actions._workflow_body(full_name, path, text)["name"],
            "branch": branch,
            "sha": after,
            "inputs": {},
            "event": "push",
            "outcome": spec["conclusion"],
            "polls": spec["polls"],
            "seen": 0,
            "status": "queued",
            "conclusion": None,
            "created_at": world.now,
        }
        started.append(run_id)
    return started


def _changed_files(world: World, before: str | None, after: str) -> list[str]:
    """The files a push changed, for a ``paths`` filter: ``before..after``; for a new branch
    (``before`` None), the pushed head against its parent, or all its files for a root."""
    if before:
        return git(world, "diff", "--name-only", before, after).splitlines()
    parent = git(world, "rev-parse", "--verify", "--quiet", f"{after}^", check=False)
    if parent:
        return git(world, "diff", "--name-only", parent, after).splitlines()
    return git(world, "ls-tree", "-r", "--name-only", after).splitlines()


# ----------------------------------------------------------------- repository contents
# As on api.github.com ("Repositories / Contents"): ``GET .../contents/{path}?ref=`` gives a
# ``content-file`` (404 for a missing path or ref); ``PUT .../contents/{path}`` {message,
# content (base64), sha, branch} commits the file on the branch: 200 ``file-commit``, 409 when
# ``sha`` is not the file's current blob, 404 for an unknown branch.


def _blob(world: World, ref: str, path: str) -> str | None:
    return git(world, "rev-parse", "--verify", "--quiet", f"{ref}:{path}", check=False) or None


@route("GET", "github", rf"{REPO}/contents/(?P<path>[^?]+)")
def get_contents(world: World, req) -> Reply:
    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    ref = req.query.get("ref") or repos(world)[f"{owner}/{name}"]["default_branch"]
    path = req.params["path"]
    with CatFile(world) as objects:  # the ref (see resolve), then the file: one git process
        sha = objects.commit(f"refs/heads/{ref}", f"refs/{ref}", ref)
        found = objects.get(f"{sha}:{path}") if sha else None
    if found is None:
        return github_error(404, "Not Found")
    blob, kind, data = found
    if kind != "blob":
        raise RuntimeError(f"fake GitHub: {path} at {ref} is a {kind}, not a file")
    text = data.decode().replace("\r\n", "\n").replace("\r", "\n")  # as `text=True` reads
    return Reply(200, samples.content_file(path, text, blob, ref=ref, owner=owner, repo=name))


@route("PUT", "github", rf"{REPO}/contents/(?P<path>[^?]+)")
def put_contents(world: World, req) -> Reply:
    import base64

    owner, name, missing = _repo_or_404(world, req)
    if missing:
        return missing
    if forbidden := _forbidden(world, owner, name):
        return forbidden
    body = req.json or {}
    branch, path = body.get("branch"), req.params["path"]
    with CatFile(world) as objects:  # the branch (see resolve), then the file's blob
        parent = (
            objects.commit(f"refs/heads/{branch}", f"refs/{branch}", branch) if branch else None
        )
        current = objects.get(f"{parent}:{path}") if parent else None
    if parent is None:
        return github_error(404, f"Branch {branch} not found")
    if body.get("sha") != (current[0] if current else None):
        return github_error(409, f"{path} does not match {body.get('sha')}")
    text = base64.b64decode(body["content"]).decode("utf-8")
    sha = world.server_git(
        "commit_files",
        branch=branch,
        parent=branch,
        files={path: text},
        message=body["message"],
    )["sha"]
    blob = _blob(world, sha, path)
    pushed(world, f"{owner}/{name}", branch, parent, sha)
    return Reply(
        200,
        samples.file_commit(
            path,
            len(text.encode()),
            blob,
            sha,
            parent,
            body["message"],
            branch=branch,
            owner=owner,
            repo=name,
        ),
    )
