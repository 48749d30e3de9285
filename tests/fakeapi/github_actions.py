"""Fake GitHub: Actions (guide sections "Set secrets for CI/CD", "Setting up CI/CD workflows").

As on api.github.com (REST 2022-11-28, "Actions"):

* ``GET/PUT /repos/{o}/{r}/actions/permissions/workflow``: the repo's ``GITHUB_TOKEN``
  defaults; a PUT answers 409 when the owner's organisation policy forbids the change.
* ``GET /repos/{o}/{r}/actions/secrets`` (names and dates only), ``GET .../secrets/public-key``,
  ``PUT .../secrets/{name}`` (201 created, 204 updated; 422 for an unknown ``key_id``). The fake
  holds the private half of the repo key and opens every sealed value, so it can check that a
  ``*_WORKSPACE_TOKEN`` secret receives a live token it minted (``databricks_tokens``); it keeps
  only the token id, never the value.
* ``GET .../actions/workflows`` and ``GET .../actions/workflows/{id or file}``: the ``.yml`` files
  under ``.github/workflows`` on the default branch of the bare repo (``world.gh["git_dir"]``).
* ``POST .../actions/workflows/{id}/dispatches`` {ref, inputs, return_run_details}: 200 with the
  run's id and URLs, or 204 without ``return_run_details``; 422 for a missing required input, an
  unknown ref, a workflow without ``workflow_dispatch``, or (``dispatch_rejects_run_details``)
  the ``return_run_details`` key itself, as an older server does.
* ``GET .../actions/runs/{id}``: a run moves on by one state per GET (``queued``,
  ``in_progress``, ..., ``completed``). When a ``deploy-cicd.yml`` run completes with success it
  does what the real workflow does: pushes ``add-cicd-for-<p>-<unix time>`` with the four
  per-project workflows (``world.server_git("commit_files", ...)``; a push, so the push runs due
  start: ``github_git.pushed``) and opens a pull request from it as ``github-actions[bot]``
  (``github_pulls.open_pull``).
* ``GET .../actions/workflows/{id}/runs`` (``event``, ``branch``, ``created=>=...``) and
  ``GET .../actions/runs/{id}/jobs``.

State in ``world.gh``:

* ``workflow_permissions``: {"owner/repo": {"default_workflow_permissions", "can_approve_pull_
  request_reviews"}}; default read / False
* ``workflow_permissions_locked``: owners whose policy forbids repos to change them (409)
* ``secrets``: {"owner/repo": {name: {"created_at", "updated_at", "token_id"}}}; seed with
  :func:`add_secret`
* ``next_run``: how the next dispatched run goes: {"conclusion": "success" | "failure",
  "polls": GETs before it completes (None: never)}; default success after 2
* ``dispatch_rejects_run_details``: True to answer 422 to ``return_run_details``
* ``runs``: the runs made so far, by id (internal)
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
from urllib.parse import unquote

from tests import github_samples as samples
from tests.fakeapi import NOW_EPOCH, Reply, World, github_error, route
from tests.fakeapi.github_repos import NAME, CatFile, git, repos
from tests.fakeapi.github_repos import full_name as _full
from tests.fakeapi.github_repos import missing_repo as _missing

REPO = rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})"
FIRST_RUN_ID = 30433642
DEPLOY_CICD = ".github/workflows/deploy-cicd.yml"
# A fixed Curve25519 key pair for the repo's Actions secrets (the fake opens what it receives).
KEY_SEED = bytes(range(32))
KEY_ID = "568250167242549743"


def default_branch(world: World, full: str) -> str:
    return repos(world)[full]["default_branch"]


# -------------------------------------------------------------------------- permissions


def permissions(world: World) -> dict:
    return world.gh.setdefault("workflow_permissions", {})


@route("GET", "github", rf"{REPO}/actions/permissions/workflow")
def get_workflow_permissions(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    current = permissions(world).get(_full(req), samples.workflow_permissions())
    return Reply(200, dict(current))


@route("PUT", "github", rf"{REPO}/actions/permissions/workflow")
def put_workflow_permissions(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    body = req.json or {}
    if req.params["owner"] in world.gh.get("workflow_permissions_locked", ()):
        return github_error(
            409,
            "Conflict: the organization's policy sets the workflow permissions of its repositories",
        )
    current = dict(permissions(world).get(_full(req), samples.workflow_permissions()))
    if "default_workflow_permissions" in body:
        if body["default_workflow_permissions"] not in ("read", "write"):
            return github_error(422, "Invalid request: default_workflow_permissions")
        current["default_workflow_permissions"] = body["default_workflow_permissions"]
    if "can_approve_pull_request_reviews" in body:
        current["can_approve_pull_request_reviews"] = bool(body["can_approve_pull_request_reviews"])
    permissions(world)[_full(req)] = current
    return Reply(204)


# ------------------------------------------------------------------------------ secrets


def secrets(world: World, full: str) -> dict:
    return world.gh.setdefault("secrets", {}).setdefault(full, {})


def add_secret(
    world: World, full: str, name: str, *, updated_at: str | None = None, token_id: str = ""
) -> None:
    """Seed a secret (its value is not modelled; ``token_id`` names the token it holds)."""
    when = updated_at or samples.UPDATED
    secrets(world, full)[name] = {"created_at": when, "updated_at": when, "token_id": token_id}


def _private_key():
    from nacl.public import PrivateKey

    return PrivateKey(KEY_SEED)


def public_key_b64() -> str:
    return base64.b64encode(bytes(_private_key().public_key)).decode()


@route("GET", "github", rf"{REPO}/actions/secrets")
def list_secrets(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    items = sorted(secrets(world, _full(req)).items())
    body = {
        "total_count": len(items),
        "secrets": [
            samples.actions_secret(n, created_at=s["created_at"], updated_at=s["updated_at"])
            for n, s in items
        ],
    }
    return Reply(200, body)


@route("GET", "github", rf"{REPO}/actions/secrets/public-key")
def get_public_key(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    return Reply(200, samples.actions_public_key(public_key_b64(), key_id=KEY_ID))


@route("GET", "github", rf"{REPO}/actions/secrets/(?P<name>(?!public-key$)[A-Za-z0-9_]+)")
def get_secret(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    found = secrets(world, _full(req)).get(req.params["name"])
    if found is None:
        return github_error(404, "Not Found")
    return Reply(
        200,
        samples.actions_secret(
            req.params["name"], created_at=found["created_at"], updated_at=found["updated_at"]
        ),
    )


@route("PUT", "github", rf"{REPO}/actions/secrets/(?P<name>[A-Za-z0-9_]+)")
def put_secret(world: World, req) -> Reply:
    from nacl.public import SealedBox

    if missing := _missing(world, req):
        return missing
    body = req.json or {}
    if body.get("key_id") != KEY_ID:
        return github_error(422, "Bad key_id: the public key has changed")
    value = SealedBox(_private_key()).decrypt(base64.b64decode(body["encrypted_value"])).decode()
    name = req.params["name"]
    token_id = ""
    if name.endswith("_WORKSPACE_TOKEN"):
        from tests.fakeapi.databricks_tokens import token_id_of

        token_id = token_id_of(world, value)
        assert token_id, f"fake GitHub: {name} received something that is not a live token"
    elif name.endswith("_DATABRICKS_CLIENT_SECRET"):
        from tests.fakeapi.databricks_oauth import secret_id_of

        token_id = secret_id_of(world, value)
        assert token_id, f"fake GitHub: {name} received something that is not a live secret"
    del value
    store = secrets(world, _full(req))
    created = name not in store
    when = world.now
    store[name] = {
        "created_at": store.get(name, {}).get("created_at", when),
        "updated_at": when,
        "token_id": token_id,
    }
    return Reply(201, {}) if created else Reply(204)


# ----------------------------------------------------------------------------- workflows


def workflow_id(path: str) -> int:
    return 100000 + zlib.crc32(path.encode()) % 900000


def workflow_files(world: World, full: str) -> dict[str, str]:
    """``.github/workflows/*.yml`` on the default branch: path -> text."""
    branch = default_branch(world, full)
    with CatFile(world) as objects:  # the folder and its files: one git process
        return objects.folder(f"refs/heads/{branch}", ".github/workflows", (".yml", ".yaml"))


def _workflow_body(full: str, path: str, text: str) -> dict:
    match = re.search(r"^name:\s*(.+)$", text, re.MULTILINE)
    owner, name = full.split("/")
    title = match.group(1).strip().strip("'\"") if match else path
    return samples.workflow(path, name=title, id=workflow_id(path), owner=owner, repo=name)


def _find_workflow(world: World, full: str, key: str) -> tuple[str, str] | None:
    for path, text in workflow_files(world, full).items():
        if key in (str(workflow_id(path)), path.rsplit("/", 1)[-1]):
            return path, text
    return None


def _workflow_or_404(world: World, req) -> tuple[str, str] | Reply:
    """(path, text) of the workflow in ``.../actions/workflows/{wid}...``, or GitHub's 404."""
    if missing := _missing(world, req):
        return missing
    found = _find_workflow(world, _full(req), unquote(req.params["wid"]))
    return found or github_error(404, "Not Found")


@route("GET", "github", rf"{REPO}/actions/workflows")
def list_workflows(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    full = _full(req)
    bodies = [_workflow_body(full, p, t) for p, t in sorted(workflow_files(world, full).items())]
    return Reply(200, samples.workflows_list(*bodies))


@route("GET", "github", rf"{REPO}/actions/workflows/(?P<wid>[^/]+)")
def get_workflow(world: World, req) -> Reply:
    found = _workflow_or_404(world, req)
    if isinstance(found, Reply):
        return found
    return Reply(200, _workflow_body(_full(req), *found))


def runs(world: World) -> dict[int, dict]:
    return world.gh.setdefault("runs", {})


def triggers(text: str) -> dict:
    """A workflow's ``on:`` as {event: its settings or None}, whichever form it is written in."""
    import yaml

    data = yaml.safe_load(text) or {}
    on = data.get("on", data.get(True)) or {}  # YAML 1.1 reads a bare `on` as True
    if isinstance(on, str):
        on = {on: None}
    if isinstance(on, list):
        on = dict.fromkeys(on)
    return on


def _dispatch_inputs(text: str) -> dict | None:
    """The ``workflow_dispatch`` inputs of a workflow ({name: spec}), None without the trigger."""
    on = triggers(text)
    if "workflow_dispatch" not in on:
        return None
    return (on.get("workflow_dispatch") or {}).get("inputs") or {}


@route("POST", "github", rf"{REPO}/actions/workflows/(?P<wid>[^/]+)/dispatches")
def dispatch(world: World, req) -> Reply:
    full = _full(req)
    found = _workflow_or_404(world, req)
    if isinstance(found, Reply):
        return found
    path, text = found
    body = req.json or {}
    if "return_run_details" in body and world.gh.get("dispatch_rejects_run_details"):
        return github_error(422, 'Invalid request.\n\n"return_run_details" is not a permitted key.')
    ref = str(body.get("ref", ""))
    sha = git(world, "rev-parse", "--verify", "--quiet", f"refs/heads/{ref}^{{commit}}")
    if not sha:
        return github_error(422, f"No ref found for: {ref}")
    declared = _dispatch_inputs(text)
    if declared is None:
        return github_error(422, "Workflow does not have 'workflow_dispatch' trigger")
    inputs = body.get("inputs") or {}
    for name, spec in declared.items():
        if (spec or {}).get("required") and not inputs.get(name):
            return github_error(422, f"Required input '{name}' not provided")
    unexpected = sorted(set(inputs) - set(declared))
    if unexpected:
        return github_error(422, f"Unexpected inputs provided: {unexpected}")
    spec = {"conclusion": "success", "polls": 2, **world.gh.get("next_run", {})}
    run_id = FIRST_RUN_ID + len(runs(world))
    runs(world)[run_id] = {
        "id": run_id,
        "full": full,
        "path": path,
        "name": _workflow_body(full, path, text)["name"],
        "branch": ref,
        "sha": sha,
        "inputs": dict(inputs),
        "event": "workflow_dispatch",
        "outcome": spec["conclusion"],
        "polls": spec["polls"],
        "seen": 0,
        "status": "queued",
        "conclusion": None,
        "created_at": world.now,
    }
    if body.get("return_run_details"):
        owner, name = full.split("/")
        return Reply(200, samples.workflow_dispatch_response(run_id, owner=owner, repo=name))
    return Reply(204)


def run_body(run: dict) -> dict:
    owner, name = run["full"].split("/")
    return samples.workflow_run(
        run["id"],
        workflow_id=workflow_id(run["path"]),
        name=run["name"],
        path=run["path"],
        event=run["event"],
        status=run["status"],
        conclusion=run["conclusion"],
        head_branch=run["branch"],
        head_sha=run["sha"],
        run_number=run["id"] - FIRST_RUN_ID + 1,
        created_at=run["created_at"],
        updated_at=run["created_at"],
        owner=owner,
        repo=name,
    )


def _advance(world: World, run: dict) -> None:
    if run["status"] == "completed":
        return
    run["seen"] += 1
    if run["polls"] is None or run["seen"] <= run["polls"]:
        run["status"] = "queued" if run["seen"] == 1 else "in_progress"
        return
    run["status"], run["conclusion"] = "completed", run["outcome"]
    if run["outcome"] == "success" and run["path"] == DEPLOY_CICD:
        _deploy_cicd_effect(world, run)


def _deploy_cicd_effect(world: World, run: dict) -> None:
    """What deploy-cicd.yml does: a branch with the project's workflows, and a PR from it."""
    from mlops_setup.example import PROJECT_WORKFLOWS, project_files
    from tests.fakeapi.github_pulls import open_pull

    project = run["inputs"]["project_name"]
    files = project_files(project, with_cicd=True)
    branch = f"add-cicd-for-{project}-{NOW_EPOCH + 90}"
    sha = world.server_git(
        "commit_files",
        branch=branch,
        parent=run["branch"],
        files={p: files[p].decode() for p in PROJECT_WORKFLOWS(project)},
        message=f"Add CICD for {project}",
    )["sha"]
    from tests.fakeapi.github_git import pushed

    pushed(world, run["full"], branch, None, sha)  # pushed with WORKFLOW_TOKEN: runs start
    open_pull(
        world,
        run["full"],
        head=branch,
        base=run["branch"],
        title=f"Deploy CICD for {project}",
        body="This PR was generated by the Deploy CICD workflow.",
        author="github-actions[bot]",
    )


@route("GET", "github", rf"{REPO}/actions/runs/(?P<run_id>\d+)")
def get_run(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    run = runs(world).get(int(req.params["run_id"]))
    if run is None or run["full"] != _full(req):
        return github_error(404, "Not Found")
    _advance(world, run)
    return Reply(200, run_body(run))


def _created_filter(value: str):
    """GitHub's ``created`` qualifier (``>=2026-03-02T08:59:00Z``, ``<...``, or a date)."""
    if not value:
        return lambda created: True
    op = re.match(r"^(>=|<=|>|<)?", value).group(0)

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    bound = parse(value[len(op) :])
    compare = {
        ">=": lambda c: c >= bound,
        ">": lambda c: c > bound,
        "<=": lambda c: c <= bound,
        "<": lambda c: c < bound,
        "": lambda c: c.date() == bound.date(),
    }[op]
    return lambda created: compare(parse(created))


@route("GET", "github", rf"{REPO}/actions/workflows/(?P<wid>[^/]+)/runs")
def list_runs(world: World, req) -> Reply:
    full = _full(req)
    found = _workflow_or_404(world, req)
    if isinstance(found, Reply):
        return found
    created_ok = _created_filter(req.query.get("created", ""))
    listed = [
        r
        for r in runs(world).values()
        if r["full"] == full
        and r["path"] == found[0]
        and req.query.get("event", r["event"]) == r["event"]
        and req.query.get("branch", r["branch"]) == r["branch"]
        and created_ok(r["created_at"])
    ]
    listed.sort(key=lambda r: r["id"], reverse=True)
    return Reply(200, samples.workflow_runs_list(*[run_body(r) for r in listed]))


def job_body(run: dict) -> dict:
    owner, name = run["full"].split("/")
    api = f"{samples.API_URL}/repos/{run['full']}"
    job_id = 50000000 + run["id"] % 1000000
    done = run["status"] == "completed"
    failed = done and run["conclusion"] != "success"
    steps = []
    names = [
        "Set up job",
        "Run actions/checkout@v4",
        "Run databricks/setup-cli",
        "Unpack the CI/CD template and merge the project parameters",
        "Render the project workflows",
        "Commit and push a new branch",
        "Create Pull Request",
    ]
    failing_at = 4 if failed else None
    for number, step in enumerate(names, 1):
        if not done:
            status, conclusion = ("completed", "success") if number < 3 else ("queued", None)
        elif failing_at is None or number - 1 < failing_at:
            status, conclusion = "completed", "success"
        elif number - 1 == failing_at:
            status, conclusion = "completed", "failure"
        else:
            status, conclusion = "completed", "skipped"
        steps.append(
            {
                "name": step,
                "status": status,
                "conclusion": conclusion,
                "number": number,
                "started_at": run["created_at"],
                "completed_at": run["created_at"] if status == "completed" else None,
            }
        )
    return {
        "id": job_id,
        "run_id": run["id"],
        "run_url": f"{api}/actions/runs/{run['id']}",
        "run_attempt": 1,
        "node_id": f"CR_kwDO{job_id:08d}",
        "head_sha": run["sha"],
        "url": f"{api}/actions/jobs/{job_id}",
        "html_url": f"{samples.WEB_URL}/{owner}/{name}/actions/runs/{run['id']}/job/{job_id}",
        "status": "completed" if done else "in_progress",
        "conclusion": run["conclusion"] if done else None,
        "created_at": run["created_at"],
        "started_at": run["created_at"],
        "completed_at": run["created_at"] if done else None,
        "name": "cicd",
        "steps": steps,
        "check_run_url": f"{api}/check-runs/{job_id}",
        "labels": ["ubuntu-latest"],
        "runner_id": 7,
        "runner_name": "GitHub Actions 7",
        "runner_group_id": 2,
        "runner_group_name": "GitHub Actions",
        "workflow_name": run["name"],
        "head_branch": run["branch"],
    }


@route("GET", "github", rf"{REPO}/actions/runs/(?P<run_id>\d+)/jobs")
def list_jobs(world: World, req) -> Reply:
    if missing := _missing(world, req):
        return missing
    run = runs(world).get(int(req.params["run_id"]))
    if run is None or run["full"] != _full(req):
        return github_error(404, "Not Found")
    return Reply(200, {"total_count": 1, "jobs": [job_body(run)]})
