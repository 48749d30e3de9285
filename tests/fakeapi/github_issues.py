"""Fake GitHub: issues (guide section "Next steps", the hand-over issue).

As on api.github.com (REST 2022-11-28, "Issues"):

* ``GET /repos/{o}/{r}/issues?state=&sort=&direction=``: issues *and* pull requests (a pull
  request carries a ``pull_request`` key), open by default, ``state=all`` for both; sorted by
  ``created`` (or ``updated``), ``desc`` by default. One page: the fake never paginates.
* ``POST /repos/{o}/{r}/issues`` {title, body, assignees, labels}: 201 ``issue``; 410 "Issues
  are disabled for this repo" where they are; 422 without a title.

Issues and pull requests share their numbers in a repo. The search API
(``GET /search/issues``) is not modelled: the step does not use it (it is eventually
consistent, so a quick re-run could miss a just-opened issue).

State in ``world.gh``:

* ``issues``: {"owner/name": [issue body]}; default none. Seed with :func:`add_issue`.
  Pull requests come from ``github_pulls``' state (``pulls``); both draw their numbers from
  ``next_number``, as on GitHub.
* ``issues_disabled``: repos whose issues are turned off.
* ``me``: login of the token's owner, the author of created issues (``github_repos``).
"""

from __future__ import annotations

from tests import github_samples as samples
from tests.fakeapi import Reply, World, github_error, route
from tests.fakeapi.github_repos import NAME, repos

REPO = rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})"


def issues(world: World, full_name: str) -> list[dict]:
    return world.gh.setdefault("issues", {}).setdefault(full_name, [])


def add_issue(
    world: World,
    full_name: str,
    title: str,
    *,
    state: str = "open",
    body: str | None = None,
    author: str = "platform-engineer",
) -> dict:
    """An existing issue; it takes the repo's next number (shared with pull requests)."""
    owner, name = full_name.split("/")
    number = world.gh.get("next_number", 1)
    world.gh["next_number"] = number + 1
    item = samples.issue(
        number, title=title, body=body, state=state, author=author, owner=owner, repo=name
    )
    issues(world, full_name).append(item)
    return item


def _pulls_as_issues(world: World, full_name: str) -> list[dict]:
    """The pull requests of ``github_pulls``, as the issues API lists them."""
    owner, name = full_name.split("/")
    out = []
    for pr in world.gh.get("pulls", {}).get(full_name, []):
        number = pr["number"]
        web = f"{samples.WEB_URL}/{full_name}/pull/{number}"
        item = samples.issue(
            number,
            title=pr["title"],
            body=pr.get("body"),
            state=pr["state"],
            author=pr.get("author", "platform-engineer"),
            owner=owner,
            repo=name,
        )
        item["html_url"] = web
        item["pull_request"] = {
            "url": f"{samples.API_URL}/repos/{full_name}/pulls/{number}",
            "html_url": web,
            "diff_url": f"{web}.diff",
            "patch_url": f"{web}.patch",
            "merged_at": samples.UPDATED if pr.get("merged") else None,
        }
        out.append(item)
    return out


@route("GET", "github", rf"{REPO}/issues")
def list_issues(world: World, req) -> Reply:
    full_name = f"{req.params['owner']}/{req.params['repo']}"
    if full_name not in repos(world):
        return github_error(404, "Not Found")
    state = req.query.get("state", "open")
    listed = issues(world, full_name) + _pulls_as_issues(world, full_name)
    found = [i for i in listed if state == "all" or i["state"] == state]
    key = "updated_at" if req.query.get("sort") == "updated" else "created_at"
    found.sort(key=lambda i: (i[key], i["number"]), reverse=req.query.get("direction") != "asc")
    return Reply(200, found)


@route("POST", "github", rf"{REPO}/issues")
def create_issue(world: World, req) -> Reply:
    owner, name = req.params["owner"], req.params["repo"]
    full_name = f"{owner}/{name}"
    if full_name not in repos(world):
        return github_error(404, "Not Found")
    if full_name in world.gh.get("issues_disabled", ()):
        return github_error(410, "Issues are disabled for this repo")
    body = req.json or {}
    if not body.get("title"):
        return Reply(
            422,
            samples.validation_error(
                resource="Issue", field="title", code="missing_field", error_message="missing"
            ),
        )
    item = add_issue(
        world,
        full_name,
        body["title"],
        body=body.get("body"),
        author=world.gh.get("me", "platform-engineer"),
    )
    item["created_at"] = item["updated_at"] = world.now
    return Reply(201, item)
