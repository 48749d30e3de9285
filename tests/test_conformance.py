"""Every cassette conforms to the APIs it replays, and the checker itself catches bad input.

The cassettes under ``tests/cassettes/`` are composed, not recorded (see the README), so each
one is checked here against GitHub's REST schema and databricks-sdk's own dataclasses, and
scanned for anything that looks like a credential. The second half of this module feeds the
checker hand-built good and bad interactions, so a checker that quietly accepts everything
fails too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

try:  # tests/ as a package or as a plain directory on sys.path
    from tests import conformance as c
    from tests import github_samples as gs
except ImportError:  # pragma: no cover - depends on how pytest imports this module
    import conformance as c
    import github_samples as gs

CASSETTE_DIR = Path(__file__).parent / "cassettes"
# Cassettes, not their server-side git sidecars (``*.git.yaml``, see mlops_setup/replay.py),
# which are scanned for credentials below but hold no HTTP.
CASSETTES = sorted(p for p in CASSETTE_DIR.rglob("*.yaml") if not p.name.endswith(".git.yaml"))
CASSETTE_IDS = [str(p.relative_to(CASSETTE_DIR)) for p in CASSETTES]

GITHUB = "https://api.github.com"
WORKSPACE = "https://dbc-1234abcd-5678.cloud.databricks.com"
ACCOUNT = "https://accounts.cloud.databricks.com"
ACCOUNT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
APP_ID = "6f2a1a5e-1111-4c7b-9a3c-1c2d3e4f5a6b"
SP = {
    "id": "7012345678",
    "applicationId": APP_ID,
    "displayName": "prod-my_mlops_project",
    "active": True,
}


def interaction(
    method: str,
    uri: str,
    status: int = 200,
    body: object = None,
    *,
    request_body: object = None,
    response_headers: dict[str, list[str]] | None = None,
) -> tuple[dict, dict]:
    """A vcrpy-serialized (request, response) pair; dict/list bodies are JSON-encoded."""

    def encode(value: object) -> str | None:
        return value if value is None or isinstance(value, str) else json.dumps(value)

    request = {"method": method, "uri": uri, "body": encode(request_body), "headers": {}}
    response = {
        "status": {"code": status, "message": "OK" if status < 400 else "Error"},
        "headers": {"Content-Type": ["application/json"], **(response_headers or {})},
        "body": {"string": encode(body) or ""},
    }
    return request, response


def problems_of(*args: object, **kwargs: object) -> list[str]:
    return c.check_interaction(*interaction(*args, **kwargs))


# ---------------------------------------------------------------------------------------------
# The cassettes
# ---------------------------------------------------------------------------------------------

if CASSETTES:

    @pytest.mark.parametrize("path", CASSETTES, ids=CASSETTE_IDS)
    def test_cassette_conforms(path: Path) -> None:
        assert c.check_cassette(path) == []

    RECORDED = sorted(CASSETTE_DIR.rglob("*.yaml"))

    @pytest.mark.parametrize(
        "path", RECORDED, ids=[str(p.relative_to(CASSETTE_DIR)) for p in RECORDED]
    )
    def test_cassette_has_no_credentials(path: Path) -> None:
        assert c.scan_for_credentials(path.read_text(encoding="utf-8")) == []

else:

    @pytest.mark.skip(reason="no cassettes yet")
    def test_cassette_conforms() -> None:
        """Placeholder until the first cassette lands under tests/cassettes/."""


# ---------------------------------------------------------------------------------------------
# Route tables
# ---------------------------------------------------------------------------------------------


def test_route_tables_build_fast() -> None:
    c.github_routes.cache_clear()
    c.databricks_routes.cache_clear()
    c._github_by_method.cache_clear()
    c._databricks_by_method.cache_clear()
    c._match_github.cache_clear()
    c._match_databricks.cache_clear()
    start = time.perf_counter()
    github, databricks = c.github_routes(), c.databricks_routes()
    elapsed = time.perf_counter() - start
    assert len(github) > 1000
    assert len(databricks) > 1000
    # a few hundred ms here; the bound only catches a real regression (importing the SDK, an
    # AST walk), not a loaded CI runner
    assert elapsed < 10.0, f"building the route tables took {elapsed:.2f} s"


@pytest.mark.parametrize(
    ("method", "path", "template", "response_model"),
    [
        ("GET", "/repos/acme/r", "/repos/{owner}/{repo}", "FullRepository"),
        ("POST", "/orgs/acme/repos", "/orgs/{org}/repos", "FullRepository"),
        ("POST", "/user/repos", "/user/repos", "FullRepository"),
        (
            "GET",
            "/repos/acme/r/actions/secrets/public-key",
            "/repos/{owner}/{repo}/actions/secrets/public-key",
            "ActionsPublicKey",
        ),
        (
            "PUT",
            "/repos/acme/r/actions/secrets/PROD_WORKSPACE_TOKEN",
            "/repos/{owner}/{repo}/actions/secrets/{secret_name}",
            "EmptyObject",
        ),
        (
            "GET",
            "/repos/acme/r/actions/permissions/workflow",
            "/repos/{owner}/{repo}/actions/permissions/workflow",
            "ActionsGetDefaultWorkflowPermissions",
        ),
        (
            "GET",
            "/repos/acme/r/git/ref/heads/feature/x",
            "/repos/{owner}/{repo}/git/ref/{ref}",
            "GitRef",
        ),
        (
            "GET",
            "/repos/acme/r/branches/main/protection",
            "/repos/{owner}/{repo}/branches/{branch}/protection",
            "BranchProtection",
        ),
        (
            "GET",
            "/repos/acme/r/commits/0123abc/check-runs",
            "/repos/{owner}/{repo}/commits/{ref}/check-runs",
            "ReposOwnerRepoCommitsRefCheckRunsGetResponse200",
        ),
    ],
)
def test_github_routes(method: str, path: str, template: str, response_model: str) -> None:
    route = c.match_github(method, path)
    assert route is not None
    assert (route.template, route.response_model) == (template, response_model)


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("GET", "/api/2.0/preview/scim/v2/Me", "CurrentUserAPI.me"),
        ("GET", "/api/2.0/preview/scim/v2/ServicePrincipals", "ServicePrincipalsV2API.list"),
        ("POST", "/api/2.0/preview/scim/v2/ServicePrincipals", "ServicePrincipalsV2API.create"),
        ("GET", "/api/2.0/preview/scim/v2/Groups", "GroupsV2API.list"),
        ("GET", "/api/2.0/preview/scim/v2/Users/12", "UsersV2API.get"),
        ("GET", f"/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Users", "AccountUsersV2API.list"),
        (
            "GET",
            f"/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
            "AccountServicePrincipalsV2API.list",
        ),
        (
            "POST",
            f"/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals",
            "AccountServicePrincipalsV2API.create",
        ),
        (
            "PUT",
            f"/api/2.0/accounts/{ACCOUNT_ID}/workspaces/123/permissionassignments/principals/456",
            "WorkspaceAssignmentAPI.update",
        ),
        (
            "GET",
            f"/api/2.0/accounts/{ACCOUNT_ID}/workspaces/123/permissionassignments",
            "WorkspaceAssignmentAPI.list",
        ),
        (
            "POST",
            "/api/2.0/token-management/on-behalf-of/tokens",
            "TokenManagementAPI.create_obo_token",
        ),
        ("GET", "/api/2.0/token-management/tokens", "TokenManagementAPI.list"),
        ("DELETE", "/api/2.0/token-management/tokens/abc", "TokenManagementAPI.delete"),
        ("GET", "/api/2.1/unity-catalog/catalogs/prod", "CatalogsAPI.get"),
        ("POST", "/api/2.1/unity-catalog/catalogs", "CatalogsAPI.create"),
        ("GET", "/api/2.1/unity-catalog/schemas/prod.my_mlops_project", "SchemasAPI.get"),
        ("POST", "/api/2.1/unity-catalog/schemas", "SchemasAPI.create"),
        ("GET", "/api/2.1/unity-catalog/tables/prod.s.t", "TablesAPI.get"),
        ("GET", "/api/2.1/unity-catalog/permissions/catalog/prod", "GrantsAPI.get"),
        ("PATCH", "/api/2.1/unity-catalog/permissions/schema/prod.s", "GrantsAPI.update"),
        ("GET", "/api/2.2/jobs/list", "JobsAPI.list"),
        ("GET", "/api/2.2/jobs/get", "JobsAPI.get"),
        ("POST", "/api/2.2/jobs/update", "JobsAPI.update"),
    ],
)
def test_databricks_routes(method: str, path: str, function: str) -> None:
    functions = [route.function for route in c.match_databricks(method, path)]
    assert function in functions


# ---------------------------------------------------------------------------------------------
# GitHub: the samples are valid, and the checker catches bad bodies
# ---------------------------------------------------------------------------------------------

SAMPLES = [
    ("simple_user", gs.simple_user(), "SimpleUser"),
    ("full_repository", gs.full_repository(), "FullRepository"),
    ("full_repository:user", gs.full_repository(owner_type="User"), "FullRepository"),
    ("repository", gs.repository(), "Repository"),
    ("minimal_repository", gs.minimal_repository(), "MinimalRepository"),
    (
        "workflow_permissions",
        gs.workflow_permissions("write", can_approve=True),
        "ActionsGetDefaultWorkflowPermissions",
    ),
    ("actions_public_key", gs.actions_public_key(), "ActionsPublicKey"),
    ("actions_secret", gs.actions_secret(), "ActionsSecret"),
    (
        "actions_secrets_list",
        gs.actions_secrets_list("A", "B"),
        "ReposOwnerRepoActionsSecretsGetResponse200",
    ),
    ("workflow", gs.workflow(), "Workflow"),
    (
        "workflows_list",
        gs.workflows_list(gs.workflow()),
        "ReposOwnerRepoActionsWorkflowsGetResponse200",
    ),
    ("workflow_run", gs.workflow_run(), "WorkflowRun"),
    (
        "workflow_run:in_progress",
        gs.workflow_run(status="in_progress", conclusion=None),
        "WorkflowRun",
    ),
    (
        "workflow_runs_list",
        gs.workflow_runs_list(gs.workflow_run()),
        "ReposOwnerRepoActionsWorkflowsWorkflowIdRunsGetResponse200",
    ),
    ("workflow_dispatch_response", gs.workflow_dispatch_response(), "WorkflowDispatchResponse"),
    ("pull_request", gs.pull_request(), "PullRequest"),
    (
        "pull_request:merged",
        gs.pull_request(state="closed", merged=True, merge_commit_sha=gs.SHA),
        "PullRequest",
    ),
    ("pull_request_simple", [gs.pull_request_simple()], "list[PullRequestSimple]"),
    ("pull_request_merge_result", gs.pull_request_merge_result(), "PullRequestMergeResult"),
    ("check_run", gs.check_run(), "CheckRun"),
    (
        "check_runs_list",
        gs.check_runs_list(gs.check_run(), gs.check_run(2, status="queued")),
        "ReposOwnerRepoCommitsRefCheckRunsGetResponse200",
    ),
    ("git_ref", gs.git_ref(), "GitRef"),
    ("branch", gs.branch(), "BranchWithProtection"),
    ("issue", gs.issue(), "Issue"),
    ("basic_error", gs.basic_error(), "BasicError"),
    ("validation_error", gs.validation_error(), "ValidationError"),
]


@pytest.mark.parametrize(("name", "body", "model"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_github_sample_is_valid(name: str, body: object, model: str) -> None:
    assert c.validate_github_json(model, gs.to_json(body)) == []


def test_every_sample_function_is_covered() -> None:
    covered = {name.split(":")[0] for name, _, _ in SAMPLES}
    public = {n for n in gs.__all__ if callable(getattr(gs, n)) and n != "to_json"}
    assert public - covered == set()


def test_good_github_get_repo_passes() -> None:
    assert (
        problems_of("GET", f"{GITHUB}/repos/acme/my_mlops_project", 200, gs.full_repository()) == []
    )


def test_github_wrong_type_is_reported() -> None:
    repo = gs.full_repository()
    repo["private"] = "yes"  # lax pydantic would read this as True
    problems = problems_of("GET", f"{GITHUB}/repos/acme/my_mlops_project", 200, repo)
    assert len(problems) == 1
    assert "$.private" in problems[0]
    assert "repos/get" in problems[0]


def test_github_missing_required_key_is_reported() -> None:
    repo = gs.full_repository()
    del repo["default_branch"]
    del repo["owner"]["login"]
    problems = problems_of("GET", f"{GITHUB}/repos/acme/my_mlops_project", 200, repo)
    assert any("$.default_branch: Field required" in p for p in problems)
    assert any("$.owner.login: Field required" in p for p in problems)


def test_github_unknown_key_is_reported() -> None:
    permissions = gs.workflow_permissions()
    permissions["default_workflow_permission"] = "write"  # typo of the real key
    problems = problems_of(
        "GET", f"{GITHUB}/repos/acme/r/actions/permissions/workflow", 200, permissions
    )
    assert problems == [
        "GitHub actions/get-github-actions-default-workflow-permissions-repository (GET "
        "/repos/{owner}/{repo}/actions/permissions/workflow): 200 response body: "
        "$.default_workflow_permission: key not in schema ActionsGetDefaultWorkflowPermissions"
    ]


def test_github_unmapped_path_is_reported() -> None:
    assert problems_of("GET", f"{GITHUB}/x/y", 200, {}) == ["unmapped GitHub operation GET /x/y"]
    assert problems_of("PATCH", f"{GITHUB}/repos/acme/r/actions/secrets/X", 200, {}) == [
        "unmapped GitHub operation PATCH /repos/acme/r/actions/secrets/X"
    ]


def test_github_enterprise_server_paths_are_mapped() -> None:
    uri = "https://ghe.example.com/api/v3/repos/acme/my_mlops_project"
    assert problems_of("GET", uri, 200, gs.full_repository()) == []
    assert problems_of("GET", "https://ghe.example.com/api/v3/nope", 200, {}) == [
        "unmapped GitHub operation GET /nope"
    ]


def test_git_smart_http_is_reported() -> None:
    uri = "https://github.com/acme/my_mlops_project.git/info/refs?service=git-upload-pack"
    (problem,) = problems_of("GET", uri, 200, "")
    assert "git smart-HTTP" in problem


def test_github_request_body_is_validated() -> None:
    uri = f"{GITHUB}/repos/acme/r/actions/secrets/PROD_WORKSPACE_TOKEN"
    good = {"encrypted_value": c.SEALED, "key_id": "568250167242549743"}
    assert problems_of("PUT", uri, 201, {}, request_body=good) == []
    assert problems_of("PUT", uri, 204, None, request_body=good) == []
    # the old placeholder is no sealed box: no exception is made for it any more
    (problem,) = problems_of(
        "PUT", uri, 201, {}, request_body={**good, "encrypted_value": c.SCRUBBED}
    )
    assert "$.encrypted_value" in problem
    bad = {"encrypted_value": "not base64!", "key_id": "568250167242549743"}
    (problem,) = problems_of("PUT", uri, 201, {}, request_body=bad)
    assert "$.encrypted_value" in problem
    (problem,) = problems_of("PUT", uri, 201, {}, request_body={"value": "x", "key_id": "1"})
    assert "request body" in problem
    assert "encrypted_value: Field required" in problem


def test_github_request_body_unknown_key_is_reported() -> None:
    uri = f"{GITHUB}/repos/acme/r/actions/permissions/workflow"
    body = {"default_workflow_permissions": "write", "can_approve_pull_request_reviews": True}
    assert problems_of("PUT", uri, 204, None, request_body=body) == []
    (problem,) = problems_of("PUT", uri, 204, None, request_body={**body, "bogus": 1})
    assert "$.bogus: key not in schema" in problem


def test_github_empty_bodies() -> None:
    # 204 without a body is fine; a body where the operation declares none is not.
    uri = f"{GITHUB}/repos/acme/r/actions/secrets/X"
    assert problems_of("DELETE", uri, 204, None) == []
    (problem,) = problems_of("DELETE", uri, 204, {"deleted": True})
    assert "declares no response body" in problem
    # A 200 that should carry a repository but is empty is reported.
    (problem,) = problems_of("GET", f"{GITHUB}/repos/acme/r", 200, None)
    assert "empty body" in problem


def test_github_dispatch_with_run_details() -> None:
    uri = f"{GITHUB}/repos/acme/r/actions/workflows/deploy-cicd.yml/dispatches"
    body = {
        "ref": "main",
        "inputs": {"project_name": "my_mlops_project"},
        "return_run_details": True,
    }
    assert problems_of("POST", uri, 204, None, request_body=body) == []
    assert problems_of("POST", uri, 200, gs.workflow_dispatch_response(), request_body=body) == []
    problems = problems_of("POST", uri, 200, {"run_id": 1}, request_body=body)
    assert len(problems) == 3  # workflow_run_id, run_url, html_url missing
    assert all("WorkflowDispatchResponse" in p for p in problems)


def test_github_errors() -> None:
    uri = f"{GITHUB}/repos/acme/r"
    assert problems_of("GET", uri, 404, gs.basic_error()) == []
    # not declared for this operation (401): still a BasicError
    assert problems_of("GET", uri, 401, gs.basic_error("Bad credentials", status="401")) == []
    (problem,) = problems_of("GET", uri, 404, {"error": "not found"})
    assert "key not in schema BasicError" in problem
    (problem,) = problems_of("GET", uri, 404, None)
    assert "needs a BasicError body" in problem
    assert (
        problems_of(
            "POST",
            f"{GITHUB}/orgs/acme/repos",
            422,
            gs.validation_error(),
            request_body={"name": "r", "private": True},
        )
        == []
    )


def test_github_unknown_query_parameter_is_reported() -> None:
    uri = f"{GITHUB}/repos/acme/r/actions/runs?per_page=5&event=workflow_dispatch"
    assert problems_of("GET", uri, 200, gs.workflow_runs_list(gs.workflow_run())) == []
    (problem,) = problems_of("GET", f"{uri}&bogus=1", 200, gs.workflow_runs_list())
    assert "['bogus']" in problem


# ---------------------------------------------------------------------------------------------
# Databricks
# ---------------------------------------------------------------------------------------------

SP_URI = f"{ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/ServicePrincipals"


def test_good_databricks_service_principal_passes() -> None:
    assert problems_of("GET", f"{SP_URI}/{SP['id']}", 200, SP) == []
    assert (
        problems_of(
            "POST", SP_URI, 201, SP, request_body={"displayName": SP["displayName"], "active": True}
        )
        == []
    )
    listing = {
        "totalResults": 1,
        "itemsPerPage": 1,
        "startIndex": 1,
        "Resources": [SP],
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
    }
    assert problems_of("GET", f'{SP_URI}?filter=displayName+eq+"x"', 200, listing) == []


def test_databricks_unknown_key_is_reported() -> None:
    body = {"id": "1", "applicationId": "x", "bogus": 1}
    problems = problems_of("GET", f"{SP_URI}/1", 200, body)
    assert len(problems) == 1
    assert "$.bogus: unknown key" in problems[0]
    # nested: inside a list of items
    listing = {"Resources": [{"id": "1", "applicationId": "x", "bogus": 1}], "totalResults": 1}
    (problem,) = problems_of("GET", SP_URI, 200, listing)
    assert "$.Resources[0].bogus" in problem


def test_databricks_round_trip_loss_is_reported() -> None:
    # An unknown enum value survives JSON but not the SDK: from_dict drops it.
    body = {"name": "prod", "catalog_type": "WRONG"}
    (problem,) = problems_of("GET", f"{WORKSPACE}/api/2.1/unity-catalog/catalogs/prod", 200, body)
    assert "$.catalog_type: 'WRONG' is not a CatalogType" in problem


def test_lost_keys_compares_recursively() -> None:
    document = {"a": {"b": 1}, "c": [1], "d": [{"e": 1}, {"e": 2, "f": 3}]}
    round_trip = {"a": {}, "d": [{"e": 1}, {"e": 2}]}
    assert c._lost_keys(None, document, round_trip, "$") == ["$.a.b", "$.c", "$.d[1].f"]


def test_databricks_wrong_scalar_type_is_reported() -> None:
    body = {"id": "1", "applicationId": "x", "active": "yes"}
    (problem,) = problems_of("GET", f"{SP_URI}/1", 200, body)
    assert "$.active: expected bool" in problem


def test_databricks_request_body_is_checked() -> None:
    uri = f"{WORKSPACE}/api/2.1/unity-catalog/permissions/catalog/prod"
    response = {"privilege_assignments": [{"principal": APP_ID, "privileges": ["USE_CATALOG"]}]}
    good = {"changes": [{"principal": APP_ID, "add": ["USE_CATALOG", "CREATE_MODEL"]}]}
    assert problems_of("PATCH", uri, 200, response, request_body=good) == []
    bad = {"changes": [{"principal": APP_ID, "add": ["USE_CATALOGUE"]}], "extra": 1}
    problems = problems_of("PATCH", uri, 200, response, request_body=bad)
    assert any(
        "request $.changes[0].add: 'USE_CATALOGUE' is not a Privilege" in p for p in problems
    )
    assert any("request $.extra: not a body key of GrantsAPI.update" in p for p in problems)
    # a list or an object where an enum value belongs is a problem found, not a crash
    nested = {"changes": [{"principal": APP_ID, "add": [["USE_CATALOG"], {"x": 1}]}]}
    problems = problems_of("PATCH", uri, 200, response, request_body=nested)
    assert any("add: ['USE_CATALOG'] is not a Privilege" in p for p in problems), problems
    assert any("add: {'x': 1} is not a Privilege" in p for p in problems), problems


def test_databricks_obo_token_and_assignment() -> None:
    token = {
        "token_value": c.SCRUBBED,
        "token_info": {
            "token_id": "abc",
            "creation_time": 1767607200000,
            "expiry_time": 1775383200000,
            "comment": "prod CI",
            "owner_id": 7,
        },
    }
    assert (
        problems_of(
            "POST",
            f"{WORKSPACE}/api/2.0/token-management/on-behalf-of/tokens",
            200,
            token,
            request_body={
                "application_id": APP_ID,
                "comment": "prod CI",
                "lifetime_seconds": 7776000,
            },
        )
        == []
    )
    uri = (
        f"{ACCOUNT}/api/2.0/accounts/{ACCOUNT_ID}/workspaces/1234567890123456"
        f"/permissionassignments/principals/{SP['id']}"
    )
    assignment = {
        "principal": {"principal_id": int(SP["id"]), "service_principal_name": APP_ID},
        "permissions": ["USER"],
    }
    assert problems_of("PUT", uri, 200, assignment, request_body={"permissions": ["USER"]}) == []
    (problem,) = problems_of("PUT", uri, 200, assignment, request_body={"permissions": ["ROOT"]})
    assert "'ROOT' is not a WorkspacePermission" in problem


def test_databricks_me_and_workspace_id() -> None:
    me = {
        "id": "42",
        "userName": "ops@example.com",
        "active": True,
        "groups": [{"display": "admins", "value": "9", "$ref": "Groups/9"}],
    }
    uri = f"{WORKSPACE}/api/2.0/preview/scim/v2/Me"
    headers = {"X-Databricks-Org-Id": ["1234567890123456"]}
    assert problems_of("GET", uri, 200, me, response_headers=headers) == []
    (problem,) = problems_of("GET", uri, 200, me, response_headers={"X-Databricks-Org-Id": ["x"]})
    assert "X-Databricks-Org-Id" in problem


def test_databricks_jobs_list() -> None:
    jobs = {
        "jobs": [
            {
                "job_id": 11,
                "settings": {
                    "name": "prod-my_mlops_project-model-training-job",
                    "schedule": {
                        "quartz_cron_expression": "0 0 9 * * ?",
                        "timezone_id": "UTC",
                        "pause_status": "UNPAUSED",
                    },
                },
            }
        ],
        "has_more": False,
    }
    uri = f"{WORKSPACE}/api/2.2/jobs/list?name=prod-my_mlops_project-model-training-job"
    assert problems_of("GET", uri, 200, jobs) == []
    (problem,) = problems_of("GET", uri + "&bogus=1", 200, jobs)
    assert "query parameters the SDK never sends: ['bogus']" in problem


def test_databricks_well_known_is_allowed() -> None:
    assert problems_of("GET", f"{WORKSPACE}/.well-known/databricks-config", 404, "<html/>") == []
    assert problems_of("GET", f"{ACCOUNT}/.well-known/databricks-config", 200, {"x": 1}) == []


def test_databricks_unmapped_path_is_reported() -> None:
    assert problems_of("GET", f"{WORKSPACE}/api/2.0/nope", 200, {}) == [
        "unmapped Databricks operation GET /api/2.0/nope"
    ]


def test_databricks_error_shapes() -> None:
    uri = f"{WORKSPACE}/api/2.1/unity-catalog/catalogs/test"
    error = {"error_code": "CATALOG_DOES_NOT_EXIST", "message": "Catalog 'test' does not exist."}
    assert problems_of("GET", uri, 404, error) == []
    (problem,) = problems_of("GET", uri, 404, {"message": "nope"})
    assert "needs a string 'error_code'" in problem
    (problem,) = problems_of("GET", uri, 500, "<html>oops</html>")
    assert "not JSON" in problem
    scim = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "detail": "User not found",
        "status": "404",
    }
    assert problems_of("GET", f"{SP_URI}/1", 404, scim) == []
    assert (
        problems_of(
            "GET",
            f"{WORKSPACE}/api/2.0/preview/scim/v2/Me",
            403,
            {"error_code": "PERMISSION_DENIED", "message": "no"},
        )
        == []
    )
    (problem,) = problems_of("GET", f"{SP_URI}/1", 404, {**scim, "status": "500"})
    assert "'status'" in problem
    # an invalid token: the front door's integer error_code, the HTTP status itself
    invalid = {"error_code": 403, "message": "Invalid access token."}
    assert problems_of("GET", f"{WORKSPACE}/api/2.0/preview/scim/v2/Me", 403, invalid) == []
    assert problems_of("GET", uri, 403, invalid) == []
    (problem,) = problems_of("GET", uri, 401, invalid)  # another status than its own
    assert "needs a string 'error_code' (or the integer 401)" in problem
    for bad in (404.0, None):
        (problem,) = problems_of("GET", uri, 404, {"error_code": bad, "message": "no"})
        assert "needs a string 'error_code'" in problem


# ---------------------------------------------------------------------------------------------
# Whole cassettes
# ---------------------------------------------------------------------------------------------


def _write_cassette(path: Path, *pairs: tuple[dict, dict]) -> Path:
    data = {"interactions": [{"request": q, "response": r} for q, r in pairs], "version": 1}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_check_cassette(tmp_path: Path) -> None:
    good = _write_cassette(
        tmp_path / "good.yaml",
        interaction("GET", f"{GITHUB}/repos/acme/my_mlops_project", 200, gs.full_repository()),
        interaction("GET", f"{SP_URI}/{SP['id']}", 200, SP),
    )
    assert c.check_cassette(good) == []
    bad = _write_cassette(
        tmp_path / "bad.yaml",
        interaction("GET", f"{GITHUB}/repos/acme/my_mlops_project", 200, gs.full_repository()),
        interaction("GET", f"{SP_URI}/1", 200, {"id": "1", "bogus": 1}),
    )
    (problem,) = c.check_cassette(bad)
    assert problem.startswith(f"interaction 1 GET {SP_URI}/1: ")
    (tmp_path / "broken.yaml").write_text("interactions: 3\nversion: 2\n", encoding="utf-8")
    assert len(c.check_cassette(tmp_path / "broken.yaml")) == 2


# ---------------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------------

CLEAN_CASSETTE = """\
interactions:
- request:
    body: '{"encrypted_value": "SEALED", "key_id": "568250167242549743"}'
    headers:
      Authorization:
      - <scrubbed>
    method: PUT
    uri: https://api.github.com/repos/acme/r/actions/secrets/PROD_WORKSPACE_TOKEN
  response:
    body:
      string: '{"token_value": "<scrubbed>", "token_info": {"token_id": "abc"}}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 201
      message: Created
version: 1
"""
CLEAN_CASSETTE = CLEAN_CASSETTE.replace("SEALED", c.SEALED)


def test_clean_text_has_no_credentials() -> None:
    assert c.scan_for_credentials(CLEAN_CASSETTE) == []
    prose = "Use a Bearer token from token management; the secret is scrubbed."
    assert c.scan_for_credentials(prose) == []
    assert c.scan_for_credentials("Authorization: Bearer <scrubbed>") == []


@pytest.mark.parametrize(
    "leak",
    [
        "dapi" + "0123456789abcdef" * 2,
        "dose" + "0123456789abcdef" * 2,
        "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8",
        "ghs_" + "A1b2C3d4E5" * 3 + "f6G7h8",
        "gho_" + "A1b2C3d4E5" * 3 + "f6G7h8",
        "ghu_" + "A1b2C3d4E5" * 3 + "f6G7h8",
        "github_pat_" + "11ABCDEFG0" * 5,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
        "Authorization: Bearer abcdef0123456789xyz",
        "Authorization:\n      - token 0123456789",
        '{"Authorization": "Basic dXNlcjpwYXNz"}',
        '{"token_value": "not-scrubbed"}',
        '{\\"access_token\\": \\"abc.def\\"}',
        '"secret": "s3cr3t"',
        '{"encrypted_value": "c2VhbGVkIGJveA=="}',
    ],
)
def test_credentials_are_found(leak: str) -> None:
    findings = c.scan_for_credentials(CLEAN_CASSETTE + leak + "\n")
    assert findings, leak
    assert all(leak not in f for f in findings), "findings must not echo the credential"


def test_graph_bodies_are_checked_against_the_graph_schema() -> None:
    from tests.conformance import check_interaction

    def pair(body: dict, status: int = 201) -> tuple[dict, dict]:
        request = {
            "method": "POST",
            "uri": "https://graph.microsoft.com/v1.0/servicePrincipals",
            "body": '{"appId": "x", "tags": ["mlops-setup"]}',
            "headers": {},
        }
        response = {"status": {"code": status}, "headers": {}, "body": {"string": json.dumps(body)}}
        return request, response

    good = {"id": "1", "appId": "x", "accountEnabled": True, "tags": []}
    assert check_interaction(*pair(good)) == []
    bad = check_interaction(*pair({**good, "appRoles": [], "accountEnabled": "yes"}))
    assert any("appRoles: unknown key for Microsoft Graph" in p for p in bad), bad
    assert any("accountEnabled: expected" in p for p in bad), bad
    error = {"error": {"code": "Request_BadRequest", "message": "no", "innerError": {}}}
    assert check_interaction(*pair(error, 400)) == []
    request, response = pair(good)
    request["uri"] = "https://graph.microsoft.com/v1.0/users"
    assert check_interaction(request, response) == [
        "POST /v1.0/users: unmapped Microsoft Graph operation POST /v1.0/users"
    ]
