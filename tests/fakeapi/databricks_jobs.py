"""Fake Databricks: jobs (guide section "Deploy ML resources and enable production jobs").

Per workspace (by host), as the Jobs API 2.2 and the Unity Catalog API answer (field names
are databricks-sdk 0.162's):

* ``GET /api/2.2/jobs/list?name=...&expand_tasks=...``: exact, case-insensitive name match;
  ``{"jobs": [...], "has_more": false}``, or only ``{"has_more": false}`` when nothing
  matches; without ``expand_tasks`` the settings carry no ``tasks``/``job_clusters``.
* ``GET /api/2.2/jobs/get?job_id=N``: the whole job with ``run_as_user_name``; an unknown id
  is 400 ``INVALID_PARAMETER_VALUE`` "Job N does not exist.", as the real service answers.
* ``POST /api/2.2/jobs/update`` {job_id, new_settings, fields_to_remove}: top-level fields of
  ``new_settings`` replace the old ones whole (``tasks``/``job_clusters`` merge by key); ``{}``.

State in ``world.db``:

* ``jobs``: {host: [job]} where a job is the ``Job`` body (``job_id``, ``creator_user_name``,
  ``run_as_user_name``, ``created_time``, ``settings``). Default: what a successful bundle CD
  run leaves in the staging and prod workspaces of the tests' config: the training and batch
  inference jobs of ``my-mlops-project``, deployed by each environment's service principal,
  with their schedules **active** (``UNPAUSED``). That is what MLOps Stacks really does: its
  resource files give a ``schedule`` without ``pause_status``, the Jobs API defaults a schedule
  to ``UNPAUSED``, and only a ``mode: development`` target (``dev``, not staging or prod)
  makes a bundle pause schedules. Tests pause them with :func:`pause_schedules`.

Tables (the batch inference input table) are ``databricks_uc``'s: by default none exists, as
in a fresh setup (creating that table is the operator's job); seed one with
:func:`input_table` and ``databricks_uc.add_table``.
"""

from __future__ import annotations

import copy

from tests.fakeapi import Reply, World, databricks_error, route
from tests.fakeapi.databricks_iam import application_id

PROJECT = "my-mlops-project"
HOSTS = {"staging": "staging.cloud.databricks.com", "prod": "prod.cloud.databricks.com"}
# Application ids of the service principals that deployed the bundle (CI/CD runs as them):
# the ids databricks_iam gives the SPs ci.service-principals creates.
DEPLOYERS = {env: application_id(f"{env}-{PROJECT}") for env in HOSTS}
JOB_IDS = {
    ("staging", "model-training"): 684517392049101,
    ("staging", "batch-inference"): 684517392049102,
    ("prod", "model-training"): 918273645501201,
    ("prod", "batch-inference"): 918273645501202,
}
CRONS = {"model-training": "0 0 9 * * ?", "batch-inference": "0 0 11 * * ?"}
CREATED_MS = 1772441400000  # 2026-03-02T08:50:00Z, during the CD runs


def input_table(env: str, project: str = PROJECT) -> str:
    """The batch job's input table once the operator has replaced the template's TODO."""
    return f"{env}.{project}.feature_store_inference_input"


TEMPLATE_INPUT_TABLE = "taxi_scoring_sample"  # what a generated project's job reads


def job_name(env: str, kind: str, project: str = PROJECT) -> str:
    return f"{env}-{project}-{kind}-job"


def mlops_job(
    env: str,
    kind: str,
    *,
    paused: bool = False,
    project: str = PROJECT,
    job_id: int = 0,
    qualified_input: bool = False,
    git_web: str = "https://github.com",
) -> dict:
    """The job a bundle deploy of the MLOps Stacks project makes for target ``env``
    (``git_web``: where the repo the CD workflow deployed from lives)."""
    sp = application_id(f"{env}-{project}")  # the SP ci.service-principals made
    root = f"/Workspace/Users/{sp}/.bundle/{project}/{env}"
    files = f"{root}/files/{project}"
    branch = "main" if env == "staging" else "release"
    common = {
        "env": env,
        "git_source_info": f"url:{git_web}/acme/{project}.git; branch:{branch}",
    }
    if kind == "model-training":
        base = {**common, "experiment_name": f"{root}/experiments/{env}-{project}-experiment"}
        tasks = [
            {
                "task_key": key,
                "notebook_task": {
                    "notebook_path": f"{files}/{path}",
                    "base_parameters": base,
                    "source": "WORKSPACE",
                },
                **({"depends_on": [{"task_key": after}]} if after else {}),
                "run_if": "ALL_SUCCESS",
                "timeout_seconds": 0,
            }
            for key, path, after in (
                ("Train", "training/notebooks/Train", None),
                ("ModelValidation", "validation/notebooks/ModelValidation", "Train"),
                (
                    "ModelDeployment",
                    "deployment/model_deployment/notebooks/ModelDeployment",
                    "ModelValidation",
                ),
            )
        ]
    else:
        params = {
            **common,
            "input_table_name": (
                input_table(env, project) if qualified_input else TEMPLATE_INPUT_TABLE
            ),
            "output_table_name": f"{env}.{project}.predictions",
            "model_name": f"{env}.{project}.{project}-model",
        }
        tasks = [
            {
                "task_key": "batch_inference_job",
                "notebook_task": {
                    "notebook_path": f"{files}/deployment/batch_inference/notebooks/BatchInference",
                    "base_parameters": params,
                    "source": "WORKSPACE",
                },
                "run_if": "ALL_SUCCESS",
                "timeout_seconds": 0,
            }
        ]
    settings = {
        "name": job_name(env, kind, project),
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
        "edit_mode": "UI_LOCKED",
        "deployment": {"kind": "BUNDLE", "metadata_file_path": f"{root}/state/metadata.json"},
        "queue": {"enabled": True},
        "schedule": {
            "quartz_cron_expression": CRONS[kind],
            "timezone_id": "UTC",
            "pause_status": "PAUSED" if paused else "UNPAUSED",
        },
        "tasks": tasks,
    }
    # No cluster specs: tests/conformance.py cannot follow the SDK's cross-module
    # ``compute.ClusterSpec`` reference yet, and no step reads them.
    return {
        "job_id": job_id or JOB_IDS[env, kind],
        "creator_user_name": sp,
        "run_as_user_name": sp,
        "created_time": CREATED_MS,
        "settings": settings,
    }


def host_of(world: World, env: str) -> str:
    """The host of workspace ``env`` in the fake (the AWS defaults, or a cloud's own hosts
    set with ``databricks_iam``'s workspaces before the first job is read)."""
    workspaces = world.db.get("workspaces") or {}
    return workspaces[env]["host"] if env in workspaces else HOSTS[env]


def jobs(world: World) -> dict[str, list[dict]]:
    from mlops_setup import ghhost

    git_web = ghhost.web_url(world.github_host)
    return world.db.setdefault(
        "jobs",
        {
            host: [
                mlops_job(
                    env,
                    "model-training",
                    project=world.db.get("project", PROJECT),
                    git_web=git_web,
                ),
                # as deployed from the project: the template's bare input table, unless the
                # test set a real one (world.db["input_table_qualified"])
                mlops_job(
                    env,
                    "batch-inference",
                    project=world.db.get("project", PROJECT),
                    qualified_input=world.db.get("input_table_qualified", False),
                    git_web=git_web,
                ),
            ]
            for env, host in ((env, host_of(world, env)) for env in HOSTS)
        },
    )


def remove_jobs(world: World, env: str, *kinds: str) -> None:
    """Jobs that a CD run did not deploy (all of ``env`` without ``kinds``)."""
    names = {job_name(env, k) for k in kinds} if kinds else None
    host = host_of(world, env)
    jobs(world)[host] = [
        j for j in jobs(world)[host] if names is not None and j["settings"]["name"] not in names
    ]


def pause_schedules(world: World, env: str, *kinds: str) -> None:
    """Schedules set to ``PAUSED`` (in the bundle, or by someone in the UI)."""
    names = {job_name(env, k) for k in kinds} if kinds else None
    for job in jobs(world)[host_of(world, env)]:
        if names is None or job["settings"]["name"] in names:
            job["settings"]["schedule"]["pause_status"] = "PAUSED"


# ----------------------------------------------------------------------------------- routes


def _summary(job: dict, expand_tasks: bool) -> dict:
    """A ``BaseJob`` (list item): no ``run_as_user_name``; tasks only when expanded."""
    out = {k: copy.deepcopy(v) for k, v in job.items() if k != "run_as_user_name"}
    if not expand_tasks:
        out["settings"].pop("tasks", None)
        out["settings"].pop("job_clusters", None)
    return out


@route("GET", "databricks", r"/api/2.2/jobs/list")
def list_jobs(world: World, req) -> Reply:
    name = req.query.get("name")
    expand = req.query.get("expand_tasks", "false").lower() == "true"
    found = [
        _summary(j, expand)
        for j in jobs(world).get(req.host, [])
        if name is None or j["settings"]["name"].lower() == name.lower()
    ]
    found.sort(key=lambda j: j["created_time"], reverse=True)
    body: dict = {"has_more": False}
    if found:
        body["jobs"] = found
    return Reply(200, body)


def _find(world: World, host: str, job_id: object) -> dict | None:
    for job in jobs(world).get(host, []):
        if str(job["job_id"]) == str(job_id):
            return job
    return None


@route("GET", "databricks", r"/api/2.2/jobs/get")
def get_job(world: World, req) -> Reply:
    job = _find(world, req.host, req.query.get("job_id"))
    if job is None:
        return databricks_error(
            400, "INVALID_PARAMETER_VALUE", f"Job {req.query.get('job_id')} does not exist."
        )
    return Reply(200, copy.deepcopy(job))


@route("POST", "databricks", r"/api/2.2/jobs/update")
def update_job(world: World, req) -> Reply:
    body = req.json or {}
    job = _find(world, req.host, body.get("job_id"))
    if job is None:
        return databricks_error(
            400, "INVALID_PARAMETER_VALUE", f"Job {body.get('job_id')} does not exist."
        )
    settings = job["settings"]
    for key, value in (body.get("new_settings") or {}).items():
        if key in ("tasks", "job_clusters"):
            id_key = "task_key" if key == "tasks" else "job_cluster_key"
            merged = {item[id_key]: item for item in settings.get(key, [])}
            merged.update({item[id_key]: item for item in value})
            settings[key] = list(merged.values())
        else:
            settings[key] = copy.deepcopy(value)
    for key in body.get("fields_to_remove") or []:
        settings.pop(key, None)
    return Reply(200, {})
