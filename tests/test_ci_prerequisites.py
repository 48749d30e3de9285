"""ci.prerequisites: account admin and workspace admin in staging and prod, checked read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from mlops_setup.changes import SetupError
from tests.conftest import mutating
from tests.fakeapi import databricks_iam

ACCOUNT_ID = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
ACCOUNT = "https://accounts.cloud.databricks.com"
ME = "/api/2.0/preview/scim/v2/Me"
USERS = f"/api/2.0/accounts/{ACCOUNT_ID}/scim/v2/Users"


def paths(made: list[tuple[str, str]]) -> list[str]:
    """``METHOD host+path`` of each request, without the query."""
    return [f"{m} {u.split('?')[0]}" for m, u in made]


@pytest.mark.vcr
def test_admin_everywhere_passes_and_changes_nothing(cli, world, http):
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.prerequisites: your rights in the account and the workspaces ==",
        f"  ok  workspace admin in staging ({STAGING}) as ops@example.com",
        f"  ok  workspace admin in prod ({PROD}) as ops@example.com",
        f"  ok  account admin in account {ACCOUNT_ID} as ops@example.com",
        "ci.prerequisites: no changes",
    ]
    assert mutating(http()) == []
    assert paths(http()) == [
        f"GET {STAGING}/.well-known/databricks-config",
        f"GET {STAGING}{ME}",
        f"GET {PROD}/.well-known/databricks-config",
        f"GET {PROD}{ME}",
        f"GET {ACCOUNT}/.well-known/databricks-config",
        f"GET {ACCOUNT}{USERS}",
    ]


@pytest.mark.vcr
def test_not_account_admin_is_named_and_nothing_changes(cli, world, http):
    world.db["account_admin"] = False
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert "ok  workspace admin in prod" in result.out
    err = result.err.splitlines()
    start = err.index("error: 1 prerequisite missing; nothing was changed")
    assert err[start : start + 5] == [
        "error: 1 prerequisite missing; nothing was changed",
        f"  - account admin ({ACCOUNT}): the account login may not read account users (403)",
        "    fix: ask an account admin to give ops@example.com the Account admin role, or set "
        "databricks.sp_mode: workspace",
        "  fix: get what is listed above, then run `invoke ci.prerequisites` again",
        "  see: runbook/ci.md#prerequisites",
    ]
    assert mutating(http()) == []
    assert "Traceback" not in result.err


@pytest.mark.vcr
def test_not_workspace_admin_names_each_workspace(cli, world, http):
    databricks_iam.set_workspace_admin(world, "prod", False)
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert f"ok  workspace admin in staging ({STAGING}) as ops@example.com" in result.out
    assert f"ok  account admin in account {ACCOUNT_ID}" in result.out
    assert (
        f"  - workspace admin in prod ({PROD}): ops@example.com is not in the admins group\n"
        "    fix: ask a workspace admin of prod to add ops@example.com to `admins`\n"
    ) in result.err
    assert "see: runbook/ci.md#prerequisites" in result.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_every_missing_right_is_listed_at_once(cli, world, http):
    databricks_iam.set_workspace_admin(world, "staging", False)
    databricks_iam.set_workspace_admin(world, "prod", False)
    world.db["account_admin"] = False
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert "error: 3 prerequisites missing; nothing was changed" in result.err
    assert "workspace admin in staging" in result.err
    assert "workspace admin in prod" in result.err
    assert f"account admin ({ACCOUNT})" in result.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_expired_login_has_its_own_message(cli, world, http):
    """Databricks answers an expired token with 403 ``{"error_code": 403, "message": "Invalid
    access token."}``: a login to renew, not a right to ask an admin for."""
    world.db["expired"] = {"staging.cloud.databricks.com"}
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert (
        f"  - workspace staging ({STAGING}): {STAGING} rejected the login while reading who you "
        "are (403): the credentials are missing, invalid or expired\n"
        f"    fix: log in again (`databricks auth login --host {STAGING}`), then run again\n"
    ) in result.err
    assert "ask a workspace admin" not in result.err
    # the other checks still ran and passed
    assert f"ok  workspace admin in prod ({PROD})" in result.out
    assert f"ok  account admin in account {ACCOUNT_ID}" in result.out
    assert mutating(http()) == []


@pytest.mark.vcr
def test_expired_account_login_is_not_a_missing_role(cli, world, http):
    """The account's 403 "Invalid access token." asks for a new login, never for the role."""
    world.db["expired"] = {"accounts.cloud.databricks.com"}
    result = cli("ci.prerequisites")
    assert result.code == 1
    err = result.err.splitlines()
    start = err.index("error: 1 prerequisite missing; nothing was changed")
    assert err[start : start + 3] == [
        "error: 1 prerequisite missing; nothing was changed",
        f"  - account admin ({ACCOUNT}): {ACCOUNT} rejected the login while reading account "
        "users (403): the credentials are missing, invalid or expired",
        f"    fix: log in again (`databricks auth login --host {ACCOUNT} --account-id "
        f"{ACCOUNT_ID}`), then run again",
    ]
    assert "Account admin role" not in result.err
    assert f"ok  workspace admin in prod ({PROD})" in result.out
    assert mutating(http()) == []


@pytest.mark.vcr
def test_account_login_without_the_admin_role_is_named(cli, world, http):
    """The account lets the operator read users (200) but lists no account_admin role."""
    world.db["account_roles"] = []
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert f"ok  workspace admin in staging ({STAGING}) as ops@example.com" in result.out
    assert f"ok  workspace admin in prod ({PROD}) as ops@example.com" in result.out
    assert "ok  account admin" not in result.out
    err = result.err.splitlines()
    start = err.index("error: 1 prerequisite missing; nothing was changed")
    assert err[start : start + 5] == [
        "error: 1 prerequisite missing; nothing was changed",
        f"  - account admin ({ACCOUNT}): ops@example.com has no account admin role",
        "    fix: ask an account admin to give ops@example.com the Account admin role, or set "
        "databricks.sp_mode: workspace",
        "  fix: get what is listed above, then run `invoke ci.prerequisites` again",
        "  see: runbook/ci.md#prerequisites",
    ]
    assert paths(http())[-1] == f"GET {ACCOUNT}{USERS}"  # the account answered; no 403
    assert mutating(http()) == []


@pytest.mark.vcr
def test_missing_profile_is_named(cli, project, world, http, clean_env):
    Path(clean_env["DATABRICKS_CONFIG_FILE"]).write_text("[staging-ws]\nhost = " + STAGING + "\n")
    project.write_config(databricks={"workspaces": {"prod": {"profile": "prod-ws"}}})
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert f"  - workspace prod ({PROD}): cannot authenticate to {PROD} with profile 'prod-ws'" in (
        result.err
    )
    assert f"fix: run `databricks auth login --host {PROD}`" in result.err
    assert not any(PROD in uri for _, uri in http())  # no request to prod without a login


@pytest.mark.vcr
def test_workspace_mode_needs_no_account_admin(cli, project, world, http):
    project.write_config(databricks={"sp_mode": "workspace"})
    world.db["account_admin"] = False
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert "ok  account admin not needed (databricks.sp_mode: workspace)" in result.out
    assert not any(ACCOUNT in uri for _, uri in http())


def test_unreachable_host_is_explained(project, runtime):
    from databricks.sdk.errors import PermissionDenied

    from mlops_setup.databricks_util import explain
    from mlops_setup.session import load_session

    session = load_session()
    down = requests.ConnectionError("Failed to resolve 'prod.cloud.databricks.com'")
    try:
        raise TimeoutError("Timed out after 0:05:00") from down  # how the SDK gives up
    except TimeoutError as exc:
        error = explain(exc, session, "prod", "reading who you are", denied_fix="", page="x")
    assert isinstance(error, SetupError)
    assert error.message == f"cannot reach {PROD} while reading who you are"
    assert (
        error.fix == "check databricks.workspaces.prod.host in your config, and your network or VPN"
    )
    denied = explain(
        PermissionDenied("no"), session, "account", "listing", denied_fix="ask X", page="p"
    )
    assert (denied.message, denied.fix, denied.page) == (
        "the account refused listing (403)",
        "ask X",
        "p",
    )
    assert explain(ValueError("other"), session, "prod", "x", denied_fix="", page="") is None


def sdk_error(status: int, body: dict):
    """The exception the SDK makes of an error answer, through its own parser."""
    import json

    from databricks.sdk.errors.parser import _Parser

    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.request = requests.Request("GET", f"{STAGING}{ME}").prepare()
    return _Parser().get_api_error(response)


def test_a_rejected_login_is_told_from_a_missing_right(project, runtime):
    """401 (no or unsupported credential) and 403 "Invalid access token." both ask for a new
    login; any other 403 is the caller's missing right."""
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    from mlops_setup.databricks_util import explain
    from mlops_setup.session import load_session

    session = load_session()
    invalid = sdk_error(403, {"error_code": 403, "message": "Invalid access token."})
    missing = sdk_error(
        401,
        {
            "error_code": "UNAUTHENTICATED",
            "message": "Credential was not sent or was of an unsupported type for this API.",
        },
    )
    denied = sdk_error(403, {"error_code": "PERMISSION_DENIED", "message": "Not an admin."})
    assert type(invalid) is PermissionDenied  # the SDK maps the integer code by its status
    assert type(missing) is Unauthenticated
    assert type(denied) is PermissionDenied
    login = f"log in again (`databricks auth login --host {STAGING}`), then run again"
    for error, status in ((invalid, 403), (missing, 401)):
        told = explain(error, session, "staging", "reading", denied_fix="ask X", page="p")
        assert (told.message, told.fix) == (
            f"{STAGING} rejected the login while reading ({status}): the credentials are "
            "missing, invalid or expired",
            login,
        )
    told = explain(denied, session, "staging", "reading", denied_fix="ask X", page="p")
    assert (told.message, told.fix) == ("workspace staging refused reading (403)", "ask X")


def test_a_404_can_be_named_by_the_caller(project, runtime):
    from databricks.sdk.errors import NotFound

    from mlops_setup.databricks_util import ApiErrors, account_not_found
    from mlops_setup.session import load_session

    session = load_session()
    with (
        pytest.raises(SetupError) as caught,
        ApiErrors(session, "account", "listing", not_found=account_not_found(session)),
    ):
        raise NotFound("Account not found")
    assert caught.value.message == f"{ACCOUNT} knows no account {ACCOUNT_ID} (404)"
    with pytest.raises(NotFound), ApiErrors(session, "account", "listing"):
        raise NotFound("passes through without not_found")


# --------------------------------------------------------------------- Azure: the Entra right

AZURE_ACCOUNT = "https://accounts.azuredatabricks.net"
GRAPH = "https://graph.microsoft.com/v1.0"
POLICY = f"GET {GRAPH}/policies/authorizationPolicy"
ROLES = f"GET {GRAPH}/me/transitiveMemberOf/microsoft.graph.directoryRole"


@pytest.fixture
def azure(project, world):
    from tests.fakeapi import graph_apps

    project.regenerate(cloud="azure")
    graph_apps.azure_workspaces(world)
    return project


@pytest.mark.vcr
def test_azure_tenant_letting_users_register_apps_passes(cli, azure, world, http):
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-2:] == [
        "  ok  Entra ID app registration: the tenant lets users register apps",
        "ci.prerequisites: no changes",
    ]
    assert f"  ok  account admin in account {ACCOUNT_ID} as ops@example.com" in result.out
    assert paths(http())[-1] == POLICY  # the policy says yes: no role lookup
    assert mutating(http()) == []


@pytest.mark.vcr
def test_azure_role_application_developer_passes_where_users_may_not(cli, azure, world, http):
    world.graph["users_may_create_apps"] = False
    world.graph["my_roles"] = ["Global Reader", "Application Developer"]
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert "  ok  Entra ID role Application Developer (may register applications)" in result.out
    assert paths(http())[-2:] == [POLICY, ROLES]


@pytest.mark.vcr
def test_azure_missing_entra_right_is_named_with_whom_to_ask(cli, azure, world, http):
    world.graph["users_may_create_apps"] = False
    world.graph["my_roles"] = ["Global Reader"]
    result = cli("ci.prerequisites")
    assert result.code == 1
    assert "ok  account admin in account" in result.out  # the rest is still checked and told
    err = result.err.splitlines()
    start = err.index("error: 1 prerequisite missing; nothing was changed")
    assert err[start + 1 : start + 3] == [
        "  - Entra ID app registration (Microsoft Graph): the tenant does not let users register "
        "applications, and your login holds none of the roles that may (Application Developer, "
        "Application Administrator, Cloud Application Administrator, Global Administrator)",
        "    fix: ask a Privileged Role Administrator of the tenant for the Entra ID role "
        "Application Developer (or Application Administrator / Cloud Application Administrator), "
        "or the Graph permission Application.ReadWrite.OwnedBy, or link existing apps "
        "(databricks.service_principals.<env>: {application_id: ...})",
    ]
    assert mutating(http()) == []
    # setup.all stops there before changing anything
    stopped = cli("setup.all")
    assert stopped.code == 1
    assert "error: 1 prerequisite missing; nothing was changed" in stopped.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_azure_application_login_is_told_not_checked(cli, azure, world, http):
    world.graph["users_may_create_apps"] = False
    world.graph["app_login"] = True
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert (
        "  ok  Entra ID: signed in as an application, which needs the Graph permission "
        "Application.ReadWrite.OwnedBy (Graph cannot tell; not checked)" in result.out
    )


@pytest.mark.vcr
def test_azure_linked_apps_need_no_registration_right(cli, azure, world, http):
    world.graph["users_may_create_apps"] = False
    azure.write_config(
        databricks={
            "service_principals": {
                env: {"application_id": f"1111111{i}-2222-4333-8444-555555555555"}
                for i, env in enumerate(("staging", "prod"))
            }
        }
    )
    result = cli("ci.prerequisites")
    assert result.code == 0, result.err
    assert (
        "  ok  Entra ID app registration not needed (every environment links its app)" in result.out
    )
    assert not any("graph.microsoft.com" in p for p in paths(http()))
