"""Valid GitHub REST response bodies (API 2022-11-28) for composing cassettes.

Each function returns a fresh JSON-compatible ``dict`` shaped the way api.github.com answers,
with every key the official schema requires and the optional keys PyGithub commonly reads.
``tests/test_conformance.py`` validates every one of them against githubkit's models (strict,
no unknown keys), so a cassette composed from these starts out conforming. Change a value with
the keyword arguments, or edit the returned dict; keep types as they are.

Names follow the project's defaults: owner ``acme``, repo ``my-mlops-project``, default branch
``main``, release branch ``release``. All timestamps are fixed, and SHAs are plain 40-hex
strings: pass the SHA your local bare repo produced where a test compares them.

Use :func:`to_json` to turn a body into the string a cassette's ``body: {string: ...}`` holds.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "API_URL",
    "WEB_URL",
    "actions_public_key",
    "actions_secret",
    "actions_secrets_list",
    "basic_error",
    "branch",
    "check_run",
    "check_runs_list",
    "full_repository",
    "git_ref",
    "issue",
    "minimal_repository",
    "pull_request",
    "pull_request_merge_result",
    "pull_request_simple",
    "repository",
    "simple_user",
    "to_json",
    "validation_error",
    "workflow",
    "workflow_dispatch_response",
    "workflow_permissions",
    "workflow_run",
    "workflow_runs_list",
    "workflows_list",
]

API_URL = "https://api.github.com"
WEB_URL = "https://github.com"

OWNER = "acme"
REPO = "my-mlops-project"
DEFAULT_BRANCH = "main"
CREATED = "2026-01-05T10:00:00Z"
UPDATED = "2026-01-05T10:05:00Z"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
BASE_SHA = "89e6c98d92887913cadf06b2adb97f26cde4849b"

JsonDict = dict[str, Any]


def to_json(body: Any) -> str:
    """The compact JSON string for a cassette body."""
    return json.dumps(body, separators=(",", ":"))


def _node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kwDO{number:08d}"


# ---------------------------------------------------------------------------------------------
# Users and repositories
# ---------------------------------------------------------------------------------------------


def simple_user(login: str = OWNER, *, id: int = 1001, type: str = "Organization") -> JsonDict:
    """``simple-user``: owners, PR authors, ``merged_by``... (``type``: User/Organization/Bot)."""
    url = f"{API_URL}/users/{login}"
    return {
        "login": login,
        "id": id,
        "node_id": _node_id("O" if type == "Organization" else "U", id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{id}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{WEB_URL}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": type,
        "user_view_type": "public",
        "site_admin": False,
    }


def _repo_urls(full_name: str) -> JsonDict:
    api = f"{API_URL}/repos/{full_name}"
    return {
        "html_url": f"{WEB_URL}/{full_name}",
        "url": api,
        "forks_url": f"{api}/forks",
        "keys_url": f"{api}/keys{{/key_id}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "teams_url": f"{api}/teams",
        "hooks_url": f"{api}/hooks",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "events_url": f"{api}/events",
        "assignees_url": f"{api}/assignees{{/user}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "tags_url": f"{api}/tags",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "languages_url": f"{api}/languages",
        "stargazers_url": f"{api}/stargazers",
        "contributors_url": f"{api}/contributors",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "commits_url": f"{api}/commits{{/sha}}",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "comments_url": f"{api}/comments{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "merges_url": f"{api}/merges",
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "downloads_url": f"{api}/downloads",
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "labels_url": f"{api}/labels{{/name}}",
        "releases_url": f"{api}/releases{{/id}}",
        "deployments_url": f"{api}/deployments",
    }


def minimal_repository(
    owner: str = OWNER, name: str = REPO, *, id: int = 700001, private: bool = True
) -> JsonDict:
    """``minimal-repository``: the repo embedded in workflow runs."""
    full_name = f"{owner}/{name}"
    return {
        "id": id,
        "node_id": _node_id("R", id),
        "name": name,
        "full_name": full_name,
        "private": private,
        "owner": simple_user(owner),
        "description": None,
        "fork": False,
        **_repo_urls(full_name),
    }


def repository(
    owner: str = OWNER,
    name: str = REPO,
    *,
    id: int = 700001,
    private: bool = True,
    default_branch: str = DEFAULT_BRANCH,
) -> JsonDict:
    """``repository``: the repo embedded in pull requests (``head.repo``, ``base.repo``)."""
    full_name = f"{owner}/{name}"
    return {
        **minimal_repository(owner, name, id=id, private=private),
        "git_url": f"git://github.com/{full_name}.git",
        "ssh_url": f"git@github.com:{full_name}.git",
        "clone_url": f"{WEB_URL}/{full_name}.git",
        "svn_url": f"{WEB_URL}/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "forks_count": 0,
        "open_issues_count": 0,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": default_branch,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if private else "public",
        "license": None,
        "allow_forking": False,
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "pushed_at": UPDATED,
        "created_at": CREATED,
        "updated_at": UPDATED,
    }


def full_repository(
    owner: str = OWNER,
    name: str = REPO,
    *,
    id: int = 700001,
    private: bool = True,
    default_branch: str = DEFAULT_BRANCH,
    owner_type: str = "Organization",
    admin: bool = True,
) -> JsonDict:
    """``full-repository``: ``GET /repos/{owner}/{repo}``, ``POST /orgs/{org}/repos``,
    ``POST /user/repos``, ``PATCH /repos/{owner}/{repo}``."""
    body = repository(owner, name, id=id, private=private, default_branch=default_branch)
    body["owner"] = simple_user(owner, type=owner_type)
    body.update(
        {
            "permissions": {
                "admin": admin,
                "maintain": admin,
                "push": True,
                "triage": True,
                "pull": True,
            },
            "allow_squash_merge": True,
            "allow_merge_commit": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "delete_branch_on_merge": False,
            "allow_update_branch": False,
            "use_squash_pr_title_as_default": False,
            "squash_merge_commit_message": "COMMIT_MESSAGES",
            "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
            "merge_commit_message": "PR_TITLE",
            "merge_commit_title": "MERGE_MESSAGE",
            "custom_properties": {},
            "network_count": 0,
            "subscribers_count": 1,
        }
    )
    if owner_type == "Organization":
        body["organization"] = simple_user(owner, type="Organization")
    return body


# ---------------------------------------------------------------------------------------------
# Actions: permissions, secrets, workflows, runs
# ---------------------------------------------------------------------------------------------


def workflow_permissions(default: str = "read", *, can_approve: bool = False) -> JsonDict:
    """``GET /repos/{owner}/{repo}/actions/permissions/workflow`` (``default``: read/write)."""
    return {
        "default_workflow_permissions": default,
        "can_approve_pull_request_reviews": can_approve,
    }


def actions_public_key(
    key: str = "2Sg8iYjAxxmI2LvUXpJjkYrMxURPc8r+dB7TJyvv1234=",
    *,
    key_id: str = "568250167242549743",
) -> JsonDict:
    """``GET /repos/{owner}/{repo}/actions/secrets/public-key``: a base64 Curve25519 key.

    Pass the public half of a keypair your test holds if it wants to open the sealed box.
    """
    return {"key_id": key_id, "key": key}


def actions_secret(
    name: str = "STAGING_WORKSPACE_TOKEN", *, created_at: str = CREATED, updated_at: str = UPDATED
) -> JsonDict:
    """``GET /repos/{owner}/{repo}/actions/secrets/{secret_name}`` (never carries the value)."""
    return {"name": name, "created_at": created_at, "updated_at": updated_at}


def actions_secrets_list(*names: str) -> JsonDict:
    """``GET /repos/{owner}/{repo}/actions/secrets``."""
    return {"total_count": len(names), "secrets": [actions_secret(n) for n in names]}


def workflow(
    path: str = ".github/workflows/deploy-cicd.yml",
    *,
    name: str = "Generate CI/CD Workflows",
    id: int = 161335,
    state: str = "active",
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``workflow``: ``GET .../actions/workflows/{workflow_id}``."""
    full_name = f"{owner}/{repo}"
    return {
        "id": id,
        "node_id": _node_id("W", id),
        "name": name,
        "path": path,
        "state": state,
        "created_at": CREATED,
        "updated_at": UPDATED,
        "url": f"{API_URL}/repos/{full_name}/actions/workflows/{id}",
        "html_url": f"{WEB_URL}/{full_name}/blob/{DEFAULT_BRANCH}/{path}",
        "badge_url": f"{WEB_URL}/{full_name}/workflows/{name.replace(' ', '%20')}/badge.svg",
    }


def workflows_list(*workflows: JsonDict) -> JsonDict:
    """``GET /repos/{owner}/{repo}/actions/workflows``."""
    return {"total_count": len(workflows), "workflows": list(workflows)}


def workflow_run(
    id: int = 30433642,
    *,
    workflow_id: int = 161335,
    name: str = "Generate CI/CD Workflows",
    path: str = ".github/workflows/deploy-cicd.yml",
    event: str = "workflow_dispatch",
    status: str | None = "completed",
    conclusion: str | None = "success",
    head_branch: str | None = DEFAULT_BRANCH,
    head_sha: str = SHA,
    run_number: int = 1,
    created_at: str = CREATED,
    updated_at: str = UPDATED,
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``workflow-run``: ``GET .../actions/runs/{run_id}`` and the items of run lists.

    ``status``: queued, in_progress, waiting, requested, pending, completed; ``conclusion``
    (None until completed): success, failure, cancelled, skipped, timed_out, action_required.
    """
    full_name = f"{owner}/{repo}"
    api = f"{API_URL}/repos/{full_name}"
    return {
        "id": id,
        "name": name,
        "node_id": _node_id("WFR", id),
        "head_branch": head_branch,
        "head_sha": head_sha,
        "path": path,
        "display_title": name,
        "run_number": run_number,
        "event": event,
        "status": status,
        "conclusion": conclusion,
        "workflow_id": workflow_id,
        "check_suite_id": 42000000 + id % 1000000,
        "url": f"{api}/actions/runs/{id}",
        "html_url": f"{WEB_URL}/{full_name}/actions/runs/{id}",
        "pull_requests": [],
        "created_at": created_at,
        "updated_at": updated_at,
        "run_attempt": 1,
        "run_started_at": created_at,
        "jobs_url": f"{api}/actions/runs/{id}/jobs",
        "logs_url": f"{api}/actions/runs/{id}/logs",
        "check_suite_url": f"{api}/check-suites/{42000000 + id % 1000000}",
        "artifacts_url": f"{api}/actions/runs/{id}/artifacts",
        "cancel_url": f"{api}/actions/runs/{id}/cancel",
        "rerun_url": f"{api}/actions/runs/{id}/rerun",
        "workflow_url": f"{api}/actions/workflows/{workflow_id}",
        "head_commit": {
            "id": head_sha,
            "tree_id": BASE_SHA,
            "message": "Initial commit",
            "timestamp": created_at,
            "author": {"name": "MLOps Setup", "email": "mlops-setup@example.com"},
            "committer": {"name": "MLOps Setup", "email": "mlops-setup@example.com"},
        },
        "repository": minimal_repository(owner, repo),
        "head_repository": minimal_repository(owner, repo),
    }


def workflow_runs_list(*runs: JsonDict) -> JsonDict:
    """``GET .../actions/runs`` and ``GET .../actions/workflows/{workflow_id}/runs``."""
    return {"total_count": len(runs), "workflow_runs": list(runs)}


def workflow_dispatch_response(
    workflow_run_id: int = 30433642, *, owner: str = OWNER, repo: str = REPO
) -> JsonDict:
    """``POST .../dispatches`` with ``return_run_details: true`` (status 200)."""
    full_name = f"{owner}/{repo}"
    return {
        "workflow_run_id": workflow_run_id,
        "run_url": f"{API_URL}/repos/{full_name}/actions/runs/{workflow_run_id}",
        "html_url": f"{WEB_URL}/{full_name}/actions/runs/{workflow_run_id}",
    }


# ---------------------------------------------------------------------------------------------
# Pull requests, checks, refs, branches, issues
# ---------------------------------------------------------------------------------------------

_PULL_ONLY_KEYS = (
    "additions",
    "changed_files",
    "comments",
    "commits",
    "deletions",
    "maintainer_can_modify",
    "mergeable",
    "mergeable_state",
    "merged",
    "merged_by",
    "rebaseable",
    "review_comments",
)


def pull_request(
    number: int = 1,
    *,
    head: str = "add-ml-code",
    base: str = DEFAULT_BRANCH,
    head_sha: str = SHA,
    base_sha: str = BASE_SHA,
    title: str = "Add ML code",
    body: str | None = None,
    state: str = "open",
    merged: bool = False,
    mergeable: bool | None = True,
    mergeable_state: str = "clean",
    merge_commit_sha: str | None = None,
    author: str = "mlops-bot",
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``pull-request``: ``GET/POST .../pulls``, ``GET .../pulls/{pull_number}``.

    ``mergeable`` may be None while GitHub computes it; a merged PR has ``state`` closed.
    """
    full_name = f"{owner}/{repo}"
    api = f"{API_URL}/repos/{full_name}"
    html = f"{WEB_URL}/{full_name}/pull/{number}"
    user = simple_user(author, id=2002, type="User")
    closed_at = UPDATED if state == "closed" else None
    return {
        "url": f"{api}/pulls/{number}",
        "id": 1900000000 + number,
        "node_id": _node_id("PR", number),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": f"{api}/issues/{number}",
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{head_sha}",
        "number": number,
        "state": state,
        "locked": False,
        "title": title,
        "user": user,
        "body": body,
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": CREATED,
        "updated_at": UPDATED,
        "closed_at": closed_at,
        "merged_at": UPDATED if merged else None,
        "merge_commit_sha": merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": {
            "label": f"{owner}:{head}",
            "ref": head,
            "sha": head_sha,
            "user": simple_user(owner),
            "repo": repository(owner, repo),
        },
        "base": {
            "label": f"{owner}:{base}",
            "ref": base,
            "sha": base_sha,
            "user": simple_user(owner),
            "repo": repository(owner, repo),
        },
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": html},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
        "author_association": "MEMBER",
        "auto_merge": None,
        "draft": False,
        "merged": merged,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": mergeable_state,
        "merged_by": user if merged else None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 10,
        "deletions": 0,
        "changed_files": 1,
    }


def pull_request_simple(number: int = 1, **kwargs: Any) -> JsonDict:
    """``pull-request-simple``: the items of ``GET .../pulls`` (same keywords as
    :func:`pull_request`)."""
    body = pull_request(number, **kwargs)
    for key in _PULL_ONLY_KEYS:
        body.pop(key, None)
    return body


def pull_request_merge_result(sha: str = SHA, *, merged: bool = True) -> JsonDict:
    """``PUT .../pulls/{pull_number}/merge`` (200)."""
    message = "Pull Request successfully merged" if merged else "Pull Request is not mergeable"
    return {"sha": sha, "merged": merged, "message": message}


def check_run(
    id: int = 21000001,
    *,
    name: str = "Unit tests",
    head_sha: str = SHA,
    status: str = "completed",
    conclusion: str | None = "success",
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``check-run`` as GitHub Actions reports it (the app is ``github-actions``)."""
    full_name = f"{owner}/{repo}"
    completed = status == "completed"
    return {
        "id": id,
        "name": name,
        "node_id": _node_id("CR", id),
        "head_sha": head_sha,
        "external_id": f"ca395085-040a-526b-2ce8-bdc85f69{id % 10000:04d}",
        "url": f"{API_URL}/repos/{full_name}/check-runs/{id}",
        "html_url": f"{WEB_URL}/{full_name}/actions/runs/30433642/job/{id}",
        "details_url": f"{WEB_URL}/{full_name}/actions/runs/30433642/job/{id}",
        "status": status,
        "conclusion": conclusion if completed else None,
        "started_at": CREATED,
        "completed_at": UPDATED if completed else None,
        "output": {
            "title": None,
            "summary": None,
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{API_URL}/repos/{full_name}/check-runs/{id}/annotations",
        },
        "check_suite": {"id": 42000001},
        "app": {
            "id": 15368,
            "client_id": "Iv1.05c79e9ad1f6bdfa",
            "slug": "github-actions",
            "node_id": "MDM6QXBwMTUzNjg=",
            "owner": simple_user("github", id=9919, type="Organization"),
            "name": "GitHub Actions",
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{WEB_URL}/apps/github-actions",
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2024-04-10T20:33:16Z",
            "permissions": {"actions": "write", "checks": "write", "contents": "write"},
            "events": ["check_run", "check_suite", "workflow_dispatch"],
        },
        "pull_requests": [],
    }


def check_runs_list(*runs: JsonDict) -> JsonDict:
    """``GET /repos/{owner}/{repo}/commits/{ref}/check-runs``."""
    return {"total_count": len(runs), "check_runs": list(runs)}


def git_ref(
    ref: str = "refs/heads/release", sha: str = SHA, *, owner: str = OWNER, repo: str = REPO
) -> JsonDict:
    """``git-ref``: ``GET .../git/ref/{ref}``, ``POST .../git/refs``, ``PATCH .../git/refs/{r}``."""
    api = f"{API_URL}/repos/{owner}/{repo}"
    return {
        "ref": ref,
        "node_id": "MDM6UmVmcmVmcy9oZWFkcy9" + ref.rsplit("/", 1)[-1],
        "url": f"{api}/git/{ref}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
    }


def branch(
    name: str = DEFAULT_BRANCH,
    sha: str = SHA,
    *,
    protected: bool = False,
    parent_sha: str | None = BASE_SHA,
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``branch-with-protection``: ``GET /repos/{owner}/{repo}/branches/{branch}``."""
    full_name = f"{owner}/{repo}"
    api = f"{API_URL}/repos/{full_name}"
    git_user = {"name": "MLOps Setup", "email": "mlops-setup@example.com", "date": CREATED}
    parents = (
        []
        if parent_sha is None
        else [
            {
                "sha": parent_sha,
                "url": f"{api}/commits/{parent_sha}",
                "html_url": f"{WEB_URL}/{full_name}/commit/{parent_sha}",
            }
        ]
    )
    return {
        "name": name,
        "commit": {
            "sha": sha,
            "node_id": "C_kwDOAAAAAdoAKDNmNzg2ODUw",
            "commit": {
                "author": git_user,
                "committer": git_user,
                "message": "Initial commit",
                "tree": {"sha": BASE_SHA, "url": f"{api}/git/trees/{BASE_SHA}"},
                "url": f"{api}/git/commits/{sha}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "url": f"{api}/commits/{sha}",
            "html_url": f"{WEB_URL}/{full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "author": None,
            "committer": None,
            "parents": parents,
        },
        "_links": {"self": f"{api}/branches/{name}", "html": f"{WEB_URL}/{full_name}/tree/{name}"},
        "protected": protected,
        "protection": {
            "enabled": protected,
            "required_status_checks": {
                "enforcement_level": "off",
                "contexts": [],
                "checks": [],
            },
        },
        "protection_url": f"{api}/branches/{name}/protection",
    }


def issue(
    number: int = 2,
    *,
    title: str = "MLOps setup: hand-over",
    body: str | None = None,
    state: str = "open",
    author: str = "mlops-bot",
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``issue``: ``POST /repos/{owner}/{repo}/issues``, ``GET .../issues/{issue_number}``."""
    full_name = f"{owner}/{repo}"
    api = f"{API_URL}/repos/{full_name}"
    return {
        "id": 2800000000 + number,
        "node_id": _node_id("I", number),
        "url": f"{api}/issues/{number}",
        "repository_url": api,
        "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "events_url": f"{api}/issues/{number}/events",
        "html_url": f"{WEB_URL}/{full_name}/issues/{number}",
        "number": number,
        "state": state,
        "state_reason": None,
        "title": title,
        "body": body,
        "user": simple_user(author, id=2002, type="User"),
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": UPDATED if state == "closed" else None,
        "created_at": CREATED,
        "updated_at": UPDATED,
        "closed_by": None,
        "author_association": "MEMBER",
    }


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def basic_error(
    message: str = "Not Found",
    *,
    documentation_url: str = "https://docs.github.com/rest",
    status: str | None = "404",
) -> JsonDict:
    """``basic-error``: 401/403/404/409 bodies. ``status`` is a string, as GitHub sends it."""
    body: JsonDict = {"message": message, "documentation_url": documentation_url}
    if status is not None:
        body["status"] = status
    return body


def validation_error(
    message: str = "Validation Failed",
    *,
    resource: str = "Repository",
    field: str = "name",
    code: str = "custom",
    error_message: str = "name already exists on this account",
    documentation_url: str = "https://docs.github.com/rest/repos/repos#create-an-organization-repository",
) -> JsonDict:
    """``validation-error``: 422 bodies (e.g. creating a repo that exists)."""
    return {
        "message": message,
        "errors": [{"resource": resource, "code": code, "field": field, "message": error_message}],
        "documentation_url": documentation_url,
    }


def content_file(
    path: str, text: str, blob_sha: str, *, ref: str, owner: str = OWNER, repo: str = REPO
) -> JsonDict:
    """``content-file``: ``GET /repos/{owner}/{repo}/contents/{path}?ref=`` for a file."""
    import base64

    api = f"{API_URL}/repos/{owner}/{repo}"
    html = f"{WEB_URL}/{owner}/{repo}/blob/{ref}/{path}"
    raw = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(text.encode("utf-8")),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        # GitHub wraps the base64 text at 60 columns
        "content": "\n".join(raw[i : i + 60] for i in range(0, len(raw), 60)) + "\n",
        "sha": blob_sha,
        "url": f"{api}/contents/{path}?ref={ref}",
        "git_url": f"{api}/git/blobs/{blob_sha}",
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{owner}/{repo}/{ref}/{path}",
        "_links": {
            "self": f"{api}/contents/{path}?ref={ref}",
            "git": f"{api}/git/blobs/{blob_sha}",
            "html": html,
        },
    }


def file_commit(
    path: str,
    size: int,
    blob_sha: str,
    commit_sha: str,
    parent_sha: str,
    message: str,
    *,
    branch: str,
    owner: str = OWNER,
    repo: str = REPO,
) -> JsonDict:
    """``file-commit``: ``PUT /repos/{owner}/{repo}/contents/{path}``."""
    api = f"{API_URL}/repos/{owner}/{repo}"
    html = f"{WEB_URL}/{owner}/{repo}/blob/{branch}/{path}"
    who = {"name": "MLOps Setup", "email": "mlops-setup@example.com", "date": CREATED}
    return {
        "content": {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": blob_sha,
            "size": size,
            "url": f"{api}/contents/{path}?ref={branch}",
            "html_url": html,
            "git_url": f"{api}/git/blobs/{blob_sha}",
            "download_url": f"https://raw.githubusercontent.com/{owner}/{repo}/{branch}/{path}",
            "type": "file",
            "_links": {
                "self": f"{api}/contents/{path}?ref={branch}",
                "git": f"{api}/git/blobs/{blob_sha}",
                "html": html,
            },
        },
        "commit": {
            "sha": commit_sha,
            "node_id": _node_id("C_", int(commit_sha[:8], 16)),
            "url": f"{api}/git/commits/{commit_sha}",
            "html_url": f"{WEB_URL}/{owner}/{repo}/commit/{commit_sha}",
            "author": who,
            "committer": who,
            "message": message,
            "tree": {"url": f"{api}/git/trees/{commit_sha}", "sha": commit_sha},
            "parents": [
                {
                    "url": f"{api}/git/commits/{parent_sha}",
                    "html_url": f"{WEB_URL}/{owner}/{repo}/commit/{parent_sha}",
                    "sha": parent_sha,
                }
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
    }
