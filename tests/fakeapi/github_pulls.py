"""Fake GitHub: pull requests, merging, reviews, branch protection, commits and check runs
(guide sections "Setting up CI/CD workflows" and "Merge a PR with your initial ML code").

Branches and commits are the bare repository standing in for GitHub's copy
(``world.gh["git_dir"]``): a pull request's head is whatever its branch points at there (until
it is merged), and a merge is made there with ``world.server_git("merge", ...)`` so replays make
it too.

As on api.github.com (REST 2022-11-28):

* ``GET .../pulls`` (``state``, ``base``, ``head=owner:branch``), newest first;
  ``POST .../pulls`` (201; 422 when the head branch does not exist, has no commits over the base,
  or already has an open pull request into it); ``GET .../pulls/{n}``.
* ``PUT .../pulls/{n}/merge`` {merge_method, sha}: 200 with the merge commit; 409 "Head branch
  was modified" when ``sha`` is not the head; 405 when the base's protection is not met (too few
  approving reviews, a required check not passed) or the pull request is closed. A merge is a
  push to the base: it starts the push runs due (``github_git.pushed``).
* ``GET .../pulls/{n}/reviews``; ``GET .../branches/{b}/protection`` (404 "Branch not protected").
* ``GET .../commits/{ref}``; ``GET .../commits/{ref}/check-runs``: the check runs of a commit come
  from ``checks`` for the branch that points at it: for the first ``pending`` GETs they are
  ``in_progress``, then ``completed`` with their conclusions; after ``absent`` GETs before any
  appear at all.

State in ``world.gh``:

* ``pulls``: {"owner/repo": [pull dicts]}; made by :func:`open_pull` (also by a deploy-cicd run)
* ``next_number``: the next issue/pull number (default 1)
* ``reviews``: {"owner/repo": {number: [{"user", "state"}]}}; add with :func:`add_review`
* ``protection``: {"owner/repo": {branch: {"reviews": n, "checks": [names]}}};
  set with :func:`protect`
* ``checks``: {branch: {"runs": [(name, conclusion)], "pending": n, "absent": n}};
  set with :func:`set_checks`
"""

from __future__ import annotations

from tests import github_samples as samples
from tests.fakeapi import Reply, World, github_error, route
from tests.fakeapi.github_repos import NAME, CatFile, git
from tests.fakeapi.github_repos import full_name as _full
from tests.fakeapi.github_repos import missing_repo as _missing

REPO = rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})"
BOT = "github-actions[bot]"


def branch_sha(world: World, branch: str) -> str:
    return git(world, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")


# ------------------------------------------------------------------------------ seeding


def pulls(world: World, full: str) -> list[dict]:
    return world.gh.setdefault("pulls", {}).setdefault(full, [])


def open_pull(
    world: World,
    full: str,
    *,
    head: str,
    base: str,
    title: str,
    body: str | None = None,
    author: str = "platform-engineer",
) -> dict:
    number = world.gh.get("next_number", 1)
    world.gh["next_number"] = number + 1
    pr = {
        "number": number,
        "head": head,
        "base": base,
        "title": title,
        "body": body,
        "author": author,
        "state": "open",
        "merged": False,
        "merge_commit_sha": None,
        "head_sha": None,  # frozen when merged
    }
    pulls(world, full).append(pr)
    return pr


def add_review(world: World, full: str, number: int, user: str, state: str = "APPROVED") -> None:
    reviews = world.gh.setdefault("reviews", {}).setdefault(full, {}).setdefault(number, [])
    reviews.append({"user": user, "state": state})


def protect(world: World, full: str, branch: str, *, reviews: int = 0, checks=()) -> None:
    world.gh.setdefault("protection", {}).setdefault(full, {})[branch] = {
        "reviews": reviews,
        "checks": list(checks),
    }


def set_checks(world: World, branch: str, runs, *, pending: int = 1, absent: int = 0) -> None:
    """Check runs for the head of ``branch``: [(name, conclusion)], shown running ``pending``
    times (after ``absent`` answers with none at all) before they complete."""
    world.gh.setdefault("checks", {})[branch] = {
        "runs": list(runs),
        "pending": pending,
        "absent": absent,
    }


# ------------------------------------------------------------------------------- bodies


def _head_sha(world: World, pr: dict) -> str:
    return pr["head_sha"] or branch_sha(world, pr["head"]) or samples.SHA


def _approvals(world: World, full: str, number: int) -> int:
    latest: dict[str, str] = {}
    for review in world.gh.get("reviews", {}).get(full, {}).get(number, []):
        latest[review["user"]] = review["state"]
    return sum(1 for s in latest.values() if s == "APPROVED")


def _unmet(world: World, full: str, pr: dict) -> str:
    """Why the base's protection blocks a merge, as GitHub says it ("" if nothing does)."""
    rules = world.gh.get("protection", {}).get(full, {}).get(pr["base"])
    if not rules:
        return ""
    if _approvals(world, full, pr["number"]) < rules["reviews"]:
        n = rules["reviews"]
        return (
            f"At least {n} approving review{'s are' if n > 1 else ' is'} required by reviewers "
            "with write access."
        )
    results = {r["name"]: r for r in _check_runs(world, _head_sha(world, pr), count=False)}
    for name in rules["checks"]:
        run = results.get(name)
        if run is None or run["conclusion"] != "success":
            state = "is expected" if run is None or run["status"] != "completed" else "is failing"
            return f'Required status check "{name}" {state}.'
    return ""


def pull_body(world: World, full: str, pr: dict, *, simple: bool = False) -> dict:
    owner, name = full.split("/")
    blocked = pr["state"] == "open" and bool(_unmet(world, full, pr))
    make = samples.pull_request_simple if simple else samples.pull_request
    body = make(
        pr["number"],
        head=pr["head"],
        base=pr["base"],
        head_sha=_head_sha(world, pr),
        base_sha=branch_sha(world, pr["base"]) or samples.BASE_SHA,
        title=pr["title"],
        body=pr["body"],
        state=pr["state"],
        merged=pr["merged"],
        mergeable=None if pr["state"] != "open" else True,
        mergeable_state="blocked" if blocked else ("clean" if pr["state"] == "open" else "unknown"),
        merge_commit_sha=pr["merge_commit_sha"],
        author=pr["author"],
        owner=owner,
        repo=name,
    )
    if pr["author"] == BOT:
        body["user"] = samples.simple_user(BOT, id=41898282, type="Bot")
        if not simple and body.get("merged_by"):
            body["merged_by"] = samples.simple_user("platform-engineer", id=2002, type="User")
    if pr["state"] != "open" and not pr["merged"]:
        body["merged_at"] = None
    return body


def _find(world: World, req) -> dict | None:
    number = int(req.params["number"])
    return next((p for p in pulls(world, _full(req)) if p["number"] == number), None)


def _pull_or_404(world: World, req) -> dict | Reply:
    """The pull request of ``/repos/{owner}/{repo}/pulls/{number}...``, or GitHub's 404."""
    if missing := _missing(world, req):
        return missing
    return _find(world, req) or github_error(404, "Not Found")


# ------------------------------------------------------------------------------- routes


@route("GET", "github", rf"{REPO}/pulls")
def list_pulls(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    state = req.query.get("state", "open")
    base = req.query.get("base")
    head = req.query.get("head")
    owner = req.params["owner"]
    listed = [
        p
        for p in pulls(world, full)
        if (state == "all" or p["state"] == state)
        and (base is None or p["base"] == base)
        and (head is None or head == f"{owner}:{p['head']}" or head == p["head"])
    ]
    listed.sort(key=lambda p: p["number"], reverse=True)
    return Reply(200, [pull_body(world, full, p, simple=True) for p in listed])


@route("POST", "github", rf"{REPO}/pulls")
def create_pull(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    body = req.json or {}
    head, base = str(body.get("head", "")), str(body.get("base", ""))
    head = head.split(":", 1)[-1]
    if not branch_sha(world, head) or not branch_sha(world, base):
        return Reply(
            422,
            samples.validation_error(
                resource="PullRequest",
                field="head" if not branch_sha(world, head) else "base",
                code="invalid",
                error_message="",
                documentation_url="https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            ),
        )
    if any(
        p["head"] == head and p["base"] == base and p["state"] == "open" for p in pulls(world, full)
    ):
        owner = req.params["owner"]
        return Reply(
            422,
            samples.validation_error(
                resource="PullRequest",
                field="",
                error_message=f"A pull request already exists for {owner}:{head}.",
                documentation_url="https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            ),
        )
    if not git(world, "rev-list", f"refs/heads/{base}..refs/heads/{head}"):
        return Reply(
            422,
            samples.validation_error(
                resource="PullRequest",
                field="",
                error_message=f"No commits between {base} and {head}",
                documentation_url="https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            ),
        )
    me = world.gh.get("me", "platform-engineer")
    pr = open_pull(
        world,
        full,
        head=head,
        base=base,
        title=body.get("title", head),
        body=body.get("body"),
        author=me,
    )
    return Reply(201, pull_body(world, full, pr))


@route("GET", "github", rf"{REPO}/pulls/(?P<number>\d+)")
def get_pull(world: World, req) -> Reply:
    pr = _pull_or_404(world, req)
    if isinstance(pr, Reply):
        return pr
    return Reply(200, pull_body(world, _full(req), pr))


@route("PUT", "github", rf"{REPO}/pulls/(?P<number>\d+)/merge")
def merge_pull(world: World, req) -> Reply:
    full = _full(req)
    pr = _pull_or_404(world, req)
    if isinstance(pr, Reply):
        return pr
    if pr["state"] != "open":
        return github_error(405, "Pull Request is not mergeable")
    body = req.json or {}
    head = _head_sha(world, pr)
    if body.get("sha") and body["sha"] != head:
        return github_error(409, "Head branch was modified. Review and try the merge again.")
    if reason := _unmet(world, full, pr):
        return github_error(405, reason)
    method = body.get("merge_method", "merge")
    owner = req.params["owner"]
    title = body.get("commit_title") or (
        f"Merge pull request #{pr['number']} from {owner}/{pr['head']}"
        if method == "merge"
        else f"{pr['title']} (#{pr['number']})"
    )
    message = f"{title}\n\n{body.get('commit_message') or pr['title']}"
    before = branch_sha(world, pr["base"])
    sha = world.server_git("merge", base=pr["base"], head=head, message=message, method=method)[
        "sha"
    ]
    pr.update(state="closed", merged=True, merge_commit_sha=sha, head_sha=head)
    from tests.fakeapi.github_git import pushed

    pushed(world, full, pr["base"], before, sha)  # a merge is a push to the base branch
    return Reply(200, samples.pull_request_merge_result(sha))


@route("GET", "github", rf"{REPO}/pulls/(?P<number>\d+)/reviews")
def list_reviews(world: World, req) -> Reply:
    full = _full(req)
    pr = _pull_or_404(world, req)
    if isinstance(pr, Reply):
        return pr
    api = f"{samples.API_URL}/repos/{full}"
    html = f"{samples.WEB_URL}/{full}/pull/{pr['number']}"
    out = []
    for index, review in enumerate(world.gh.get("reviews", {}).get(full, {}).get(pr["number"], [])):
        review_id = 80000000 + pr["number"] * 100 + index
        out.append(
            {
                "id": review_id,
                "node_id": f"PRR_kwDO{review_id:08d}",
                "user": samples.simple_user(review["user"], id=3000 + index, type="User"),
                "body": "",
                "state": review["state"],
                "html_url": f"{html}#pullrequestreview-{review_id}",
                "pull_request_url": f"{api}/pulls/{pr['number']}",
                "_links": {
                    "html": {"href": f"{html}#pullrequestreview-{review_id}"},
                    "pull_request": {"href": f"{api}/pulls/{pr['number']}"},
                },
                "submitted_at": world.now,
                "commit_id": _head_sha(world, pr),
                "author_association": "MEMBER",
            }
        )
    return Reply(200, out)


@route("GET", "github", rf"{REPO}/branches/(?P<branch>.+)/protection")
def get_protection(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    branch = req.params["branch"]
    rules = world.gh.get("protection", {}).get(full, {}).get(branch)
    if not rules:
        return github_error(404, "Branch not protected")
    url = f"{samples.API_URL}/repos/{full}/branches/{branch}/protection"
    body: dict = {
        "url": url,
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": False},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": False},
        "allow_deletions": {"enabled": False},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
    }
    if rules["reviews"]:
        body["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": False,
            "require_code_owner_reviews": False,
            "required_approving_review_count": rules["reviews"],
            "require_last_push_approval": False,
        }
    if rules["checks"]:
        body["required_status_checks"] = {
            "url": f"{url}/required_status_checks",
            "strict": False,
            "contexts": list(rules["checks"]),
            "contexts_url": f"{url}/required_status_checks/contexts",
            "checks": [{"context": c, "app_id": 15368} for c in rules["checks"]],
        }
    return Reply(200, body)


def _resolve(world: World, ref: str) -> str:
    with CatFile(world) as objects:  # both names: one git process
        return objects.commit(f"refs/heads/{ref}", ref) or ""


@route("GET", "github", rf"{REPO}/commits/(?P<ref>[^/]+)")
def get_commit(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    sha = _resolve(world, req.params["ref"])
    if not sha:
        return Reply(
            422,
            samples.validation_error(
                message=f"No commit found for SHA: {req.params['ref']}",
                resource="Commit",
                field="sha",
                code="invalid",
                error_message="",
                documentation_url="https://docs.github.com/rest/commits/commits#get-a-commit",
            ),
        )
    owner, name = _full(req).split("/")
    parents = git(world, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    body = samples.branch(
        "x", sha, parent_sha=parents[0] if parents else None, owner=owner, repo=name
    )["commit"]
    body["commit"]["message"] = git(world, "log", "-1", "--format=%B", sha)
    body["stats"] = {"additions": 0, "deletions": 0, "total": 0}
    body["files"] = []
    return Reply(200, body)


def _check_runs(world: World, sha: str, *, count: bool = True) -> list[dict]:
    branches = git(
        world, "for-each-ref", "--points-at", sha, "--format=%(refname:short)", "refs/heads"
    )
    spec = None
    for branch in branches.splitlines():
        spec = world.gh.get("checks", {}).get(branch)
        if spec:
            break
    if not spec:
        return []
    seen = world.gh.setdefault("check_polls", {})
    polls = seen.get(sha, 0) + (1 if count else 0)
    if count:
        seen[sha] = polls
    if polls <= spec["absent"]:
        return []
    done = polls > spec["absent"] + spec["pending"]
    out = []
    for index, (name, conclusion) in enumerate(spec["runs"]):
        out.append(
            {
                "id": 21000001 + index,
                "name": name,
                "status": "completed" if done else "in_progress",
                "conclusion": conclusion if done else None,
            }
        )
    return out


@route("GET", "github", rf"{REPO}/commits/(?P<ref>[^/]+)/check-runs")
def list_check_runs(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    sha = _resolve(world, req.params["ref"])
    if not sha:
        return github_error(404, "Not Found")
    owner, name = _full(req).split("/")
    bodies = [
        samples.check_run(
            r["id"],
            name=r["name"],
            head_sha=sha,
            status=r["status"],
            conclusion=r["conclusion"],
            owner=owner,
            repo=name,
        )
        for r in _check_runs(world, sha)
    ]
    return Reply(200, samples.check_runs_list(*bodies))
