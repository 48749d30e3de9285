"""Fake GitHub: deployment environments, Actions variables, secret deletion (CI via OIDC).

As on api.github.com (REST 2022-11-28, "Deployments > Environments", "Deployment branch
policies", "Actions > Variables", "Actions > Secrets"):

* ``GET /repos/{o}/{r}/environments`` ({total_count, environments}), ``GET/PUT
  .../environments/{name}``: PUT creates or updates, body ``wait_timer``, ``reviewers``
  ([{type: User|Team, id}]), ``prevent_self_review``, ``deployment_branch_policy``
  ({protected_branches, custom_branch_policies} or null); answers the ``environment``.
  ``protection_rules`` lists ``required_reviewers`` and ``branch_policy`` as GitHub does.
* ``GET/POST .../environments/{name}/deployment-branch-policies`` ({name, type: branch}),
  ``DELETE .../deployment-branch-policies/{id}``: only with custom branch policies (404
  otherwise, as GitHub answers).
* ``DELETE .../environments/{name}`` (204; 404 for no such environment).
* ``GET/POST /repos/{o}/{r}/actions/variables`` (201, 409 when the name exists), ``GET/PATCH/
  DELETE .../actions/variables/{name}`` (204).
* ``DELETE /repos/{o}/{r}/actions/secrets/{name}`` (204; 404 for no such secret).
* ``GET /users/{login}``: the public user (reviewer ids).

State in ``world.gh``:

* ``environments``: {"owner/repo": {name: {"id", "reviewers": [user login], "custom": bool,
  "protected": bool, "branch_policies": {id: name}}}}
* ``variables``: {"owner/repo": {name: {"value", "created_at", "updated_at"}}}; seed with
  :func:`add_variable`
* ``users``: {login: id} of reviewers; seed with :func:`add_user` (others: ``github_repos``)
"""

from __future__ import annotations

from tests import github_samples as samples
from tests.fakeapi import ROUTES, Reply, World, github_error, github_repos, route
from tests.fakeapi.github_actions import secrets as actions_secrets
from tests.fakeapi.github_repos import NAME
from tests.fakeapi.github_repos import full_name as _full
from tests.fakeapi.github_repos import missing_repo as _missing

REPO = rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})"
ENV = rf"{REPO}/environments/(?P<env>[A-Za-z0-9._-]+)"
API = "https://api.github.com"


def environments(world: World, full: str) -> dict:
    return world.gh.setdefault("environments", {}).setdefault(full, {})


def variables(world: World, full: str) -> dict:
    return world.gh.setdefault("variables", {}).setdefault(full, {})


def users(world: World) -> dict:
    return world.gh.setdefault("users", {})


def add_user(world: World, login: str, user_id: int) -> None:
    """A GitHub user who can be named as a reviewer (``GET /users/{login}`` gives ``user_id``)."""
    users(world)[login] = user_id


def add_variable(world: World, full: str, name: str, value: str) -> None:
    when = samples.UPDATED
    variables(world, full)[name] = {"value": value, "created_at": when, "updated_at": when}


def add_environment(
    world: World, full: str, name: str, *, branches: tuple[str, ...] | None = None
) -> dict:
    """Seed an environment; ``branches``: custom deployment branch policies (None: any)."""
    envs = environments(world, full)
    env = {
        "id": 161088068 + len(world.gh.get("environments", {}).get(full, {})),
        "reviewers": [],
        "custom": branches is not None,
        "protected": False,
        "branch_policies": {},
    }
    envs[name] = env
    for branch in branches or ():
        _add_branch_policy(world, env, branch)
    return env


def _add_branch_policy(world: World, env: dict, name: str) -> int:
    serial = world.gh.setdefault("branch_policy_serial", 361471)
    world.gh["branch_policy_serial"] = serial + 1
    env["branch_policies"][serial] = name
    return serial


def _user(world: World, login: str) -> dict:
    return samples.simple_user(login, id=users(world)[login], type="User")


def _login_of(world: World, user_id: int) -> str | None:
    for login, uid in users(world).items():
        if uid == user_id:
            return login
    return None


def environment_body(world: World, full: str, name: str) -> dict:
    env = environments(world, full)[name]
    stamp = samples.UPDATED
    rules = []
    if env["reviewers"]:
        rules.append(
            {
                "id": env["id"] * 10 + 1,
                "node_id": f"GA_kwDO{env['id']:08d}1",
                "prevent_self_review": False,
                "type": "required_reviewers",
                "reviewers": [
                    {"type": "User", "reviewer": _user(world, r)} for r in env["reviewers"]
                ],
            }
        )
    if env["custom"] or env["protected"]:
        rules.append(
            {
                "id": env["id"] * 10 + 2,
                "node_id": f"GA_kwDO{env['id']:08d}2",
                "type": "branch_policy",
            }
        )
    policy = (
        {"protected_branches": env["protected"], "custom_branch_policies": env["custom"]}
        if env["custom"] or env["protected"]
        else None
    )
    return {
        "id": env["id"],
        "node_id": f"EN_kwDO{env['id']:08d}",
        "name": name,
        "url": f"{API}/repos/{full}/environments/{name}",
        "html_url": f"https://github.com/{full}/deployments/activity_log?environments_filter={name}",
        "created_at": stamp,
        "updated_at": stamp,
        "protection_rules": rules,
        "deployment_branch_policy": policy,
    }


@route("GET", "github", rf"{REPO}/environments")
def list_environments(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    names = sorted(environments(world, full))
    body = {
        "total_count": len(names),
        "environments": [environment_body(world, full, n) for n in names],
    }
    return Reply(200, body)


@route("GET", "github", ENV)
def get_environment(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    if req.params["env"] not in environments(world, full):
        return github_error(404, "Not Found")
    return Reply(200, environment_body(world, full, req.params["env"]))


@route("PUT", "github", ENV)
def put_environment(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full, name = _full(req), req.params["env"]
    body = req.json or {}
    envs = environments(world, full)
    env = envs.get(name) or add_environment(world, full, name)
    reviewers = []
    for reviewer in body.get("reviewers") or []:
        login = _login_of(world, reviewer.get("id"))
        if reviewer.get("type") != "User" or login is None:
            return github_error(422, "Reviewer not found")
        reviewers.append(login)
    if "reviewers" in body:
        env["reviewers"] = reviewers
    if "deployment_branch_policy" in body:
        policy = body["deployment_branch_policy"]
        if policy is None:
            env["custom"] = env["protected"] = False
            env["branch_policies"] = {}
        else:
            if policy.get("protected_branches") == policy.get("custom_branch_policies"):
                return github_error(
                    422,
                    "Exactly one of protected_branches or custom_branch_policies must be true",
                )
            env["custom"] = bool(policy["custom_branch_policies"])
            env["protected"] = bool(policy["protected_branches"])
            if not env["custom"]:
                env["branch_policies"] = {}
    return Reply(200, environment_body(world, full, name))


def _policy_body(full: str, env: str, policy_id: int, name: str) -> dict:
    return {
        "id": policy_id,
        "node_id": f"MDE2OkdhdGVCcmFuY2hQb2xpY3k{policy_id}",
        "name": name,
        "type": "branch",
    }


def _custom_env(world: World, req) -> dict | Reply:
    if missing := _missing(world, req):
        return missing
    env = environments(world, _full(req)).get(req.params["env"])
    if env is None or not env["custom"]:
        return github_error(404, "Not Found")
    return env


@route("GET", "github", rf"{ENV}/deployment-branch-policies")
def list_branch_policies(world: World, req) -> Reply:
    env = _custom_env(world, req)
    if isinstance(env, Reply):
        return env
    items = sorted(env["branch_policies"].items())
    body = {
        "total_count": len(items),
        "branch_policies": [_policy_body(_full(req), req.params["env"], i, n) for i, n in items],
    }
    return Reply(200, body)


@route("DELETE", "github", ENV)
def delete_environment(world: World, req) -> Reply:
    """``DELETE /repos/{o}/{r}/environments/{name}``: 204 (its secrets, variables and branch
    policies go with it); 404 when there is no such environment."""
    if missing := _missing(world, req):
        return missing
    found = environments(world, _full(req))
    if found.pop(req.params["env"], None) is None:
        return github_error(404, "Not Found")
    return Reply(204)


@route("POST", "github", rf"{ENV}/deployment-branch-policies")
def create_branch_policy(world: World, req) -> Reply:
    env = _custom_env(world, req)
    if isinstance(env, Reply):
        return env
    name = (req.json or {}).get("name", "")
    if name in env["branch_policies"].values():
        return github_error(303, "Already exists")
    policy_id = _add_branch_policy(world, env, name)
    return Reply(200, _policy_body(_full(req), req.params["env"], policy_id, name))


@route("DELETE", "github", rf"{ENV}/deployment-branch-policies/(?P<policy>\d+)")
def delete_branch_policy(world: World, req) -> Reply:
    env = _custom_env(world, req)
    if isinstance(env, Reply):
        return env
    if env["branch_policies"].pop(int(req.params["policy"]), None) is None:
        return github_error(404, "Not Found")
    return Reply(204)


# ---------------------------------------------------------------------------- variables


def _variable_body(name: str, var: dict) -> dict:
    return {
        "name": name,
        "value": var["value"],
        "created_at": var["created_at"],
        "updated_at": var["updated_at"],
    }


@route("GET", "github", rf"{REPO}/actions/variables")
def list_variables(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    items = sorted(variables(world, _full(req)).items())
    body = {"total_count": len(items), "variables": [_variable_body(n, v) for n, v in items]}
    return Reply(200, body)


@route("POST", "github", rf"{REPO}/actions/variables")
def create_variable(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    body = req.json or {}
    store = variables(world, _full(req))
    name = str(body.get("name", "")).upper()
    if name in store:
        return github_error(409, "Already exists")
    store[name] = {"value": body.get("value", ""), "created_at": world.now, "updated_at": world.now}
    return Reply(201, {})


@route("GET", "github", rf"{REPO}/actions/variables/(?P<name>[A-Za-z0-9_]+)")
def get_variable(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    var = variables(world, _full(req)).get(req.params["name"].upper())
    if var is None:
        return github_error(404, "Not Found")
    return Reply(200, _variable_body(req.params["name"].upper(), var))


@route("PATCH", "github", rf"{REPO}/actions/variables/(?P<name>[A-Za-z0-9_]+)")
def update_variable(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    var = variables(world, _full(req)).get(req.params["name"].upper())
    if var is None:
        return github_error(404, "Not Found")
    var["value"] = (req.json or {}).get("value", var["value"])
    var["updated_at"] = world.now
    return Reply(204)


@route("DELETE", "github", rf"{REPO}/actions/variables/(?P<name>[A-Za-z0-9_]+)")
def delete_variable(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    if variables(world, _full(req)).pop(req.params["name"].upper(), None) is None:
        return github_error(404, "Not Found")
    return Reply(204)


@route("DELETE", "github", rf"{REPO}/actions/secrets/(?P<name>[A-Za-z0-9_]+)")
def delete_secret(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    if actions_secrets(world, _full(req)).pop(req.params["name"], None) is None:
        return github_error(404, "Not Found")
    return Reply(204)


@route("GET", "github", rf"/users/(?P<login>{NAME})")
def get_user(world: World, req) -> Reply:
    """A reviewer seeded with :func:`add_user` (its own id); anyone else as github_repos says."""
    login = req.params["login"]
    if login not in users(world):
        return github_repos.get_account(world, req)
    body = github_repos.public_user(login, "User")
    return Reply(200, {**body, **_user(world, login)})


# github_repos (imported above) registered its own GET /users/{login} first: answer before it.
ROUTES.insert(0, ROUTES.pop())
