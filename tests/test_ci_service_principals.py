"""ci.service-principals: one SP per environment, in the account, assigned to its workspace."""

from __future__ import annotations

import json

import pytest

from tests.conftest import change_lines, exchanges_of, mutating
from tests.fakeapi import databricks_iam
from tests.fakeapi.databricks_iam import application_id

ACCOUNT_ID = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
ACCOUNT = f"https://accounts.cloud.databricks.com/api/2.0/accounts/{ACCOUNT_ID}"
STAGING = "https://staging.cloud.databricks.com"
PROD = "https://prod.cloud.databricks.com"
STAGING_ID, PROD_ID = 1234567890123456, 6543210987654321
STAGING_SP, PROD_SP = "staging-my-mlops-project", "prod-my-mlops-project"
STAGING_APP, PROD_APP = application_id(STAGING_SP), application_id(PROD_SP)
# ids the fake gives the first and second SP
FIRST_ID, SECOND_ID = "7001000000000001", "7001000000000002"


def sent_bodies(vcr, fake_api, method: str) -> list[tuple[str, dict]]:
    """(uri, JSON body) of each ``method`` request this test sent, in either mode."""
    return [
        (e.uri, e.body)
        for e in exchanges_of(fake_api if fake_api is not None else vcr)
        if e.method == method and e.body
    ]


@pytest.mark.vcr
def test_fresh_account_creates_and_assigns_both(cli, world, http, vcr, fake_api):
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.service-principals: a service principal per environment ==",
        f"  +   created SP {STAGING_SP} (in the account)",
        f"  +   assigned SP {STAGING_SP} to workspace staging (USER)",
        f"  +   created SP {PROD_SP} (in the account)",
        f"  +   assigned SP {PROD_SP} to workspace prod (USER)",
        f"  >   SP {STAGING_SP}: application id {STAGING_APP}",
        f"  >   SP {PROD_SP}: application id {PROD_APP}",
        "ci.service-principals: 4 added, 0 changed, 0 destroyed",
    ]
    assert mutating(http()) == [
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}",
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{PROD_ID}/permissionassignments/principals/{SECOND_ID}",
    ]
    assert [body for _, body in sent_bodies(vcr, fake_api, "POST")] == [
        {"displayName": STAGING_SP, "active": True},
        {"displayName": PROD_SP, "active": True},
    ]
    assert [body for _, body in sent_bodies(vcr, fake_api, "PUT")] == [
        {"permissions": ["USER"]}
    ] * 2


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, world, http):
    plan = cli("ci.service-principals", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert "ci.service-principals: 4 to add, 0 to change, 0 to destroy" in plan.out
    applied = cli("ci.service-principals")
    assert applied.code == 0, applied.err
    assert (
        change_lines(plan.out)
        == change_lines(applied.out)
        == [
            f"create SP {STAGING_SP} (in the account)",
            f"assign SP {STAGING_SP} to workspace staging (USER)",
            f"create SP {PROD_SP} (in the account)",
            f"assign SP {PROD_SP} to workspace prod (USER)",
        ]
    )
    assert len(mutating(http())) == 4


@pytest.mark.vcr
def test_finished_account_sends_no_mutating_request(cli, world, http):
    databricks_iam.add_service_principal(world, STAGING_SP, assigned_to=("staging",))
    databricks_iam.add_service_principal(world, PROD_SP, assigned_to=("prod",))
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.service-principals: a service principal per environment ==",
        f"  ok  SP {STAGING_SP} exists (application id {STAGING_APP})",
        f"  ok  SP {STAGING_SP} is in workspace staging (USER)",
        f"  ok  SP {PROD_SP} exists (application id {PROD_APP})",
        f"  ok  SP {PROD_SP} is in workspace prod (USER)",
        "ci.service-principals: no changes",
    ]
    assert mutating(http()) == []


@pytest.mark.vcr
def test_existing_sp_is_only_assigned_and_an_admin_one_left_alone(cli, world, http):
    databricks_iam.add_service_principal(world, STAGING_SP)  # created, never assigned
    databricks_iam.add_service_principal(
        world, PROD_SP, assigned_to=("prod",), permissions=("ADMIN",)
    )
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [f"assign SP {STAGING_SP} to workspace staging (USER)"]
    assert f"ok  SP {PROD_SP} is in workspace prod (ADMIN)" in result.out
    assert mutating(http()) == [
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}"
    ]


@pytest.mark.vcr
def test_sp_visible_only_after_several_not_found_answers(cli, world, http, no_sleep):
    world.db["sp_visible_after"] = 3  # the workspace lists a new SP from its 4th lookup on
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    waits = [line.strip() for line in result.out.splitlines() if line.strip().startswith("..")]
    assert waits == [  # one line per state, not per poll (the delays are below)
        f"..  SP {STAGING_SP} in workspace staging: not there yet",
        f"..  SP {PROD_SP} in workspace prod: not there yet",
    ]
    assert no_sleep.calls == [1, 2, 4, 1, 2, 4]  # our bounded backoff, nothing else slept
    lookups = [u for m, u in http() if m == "GET" and u.startswith(f"{STAGING}/api/2.0/preview")]
    assert len(lookups) == 5  # Me, then 4 looks for the SP
    assert "ci.service-principals: 4 added, 0 changed, 0 destroyed" in result.out


@pytest.mark.vcr
def test_sp_that_never_shows_up_is_reported_with_what_was_done(cli, project, world, http):
    project.write_config(databricks={"sp_visible_timeout": 3})
    world.db["sp_visible_after"] = 100
    result = cli("ci.service-principals")
    assert result.code == 1
    assert (
        f"error: SP {STAGING_SP} (application id {STAGING_APP}) is still not visible in "
        "workspace staging after 3s; it was created in the account and assigned to it (USER)"
    ) in result.err
    assert "(1 change(s) before this one were applied; a re-run resumes here)" in result.err
    assert mutating(http()) == [
        f"POST {ACCOUNT}/scim/v2/ServicePrincipals",
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{FIRST_ID}",
    ]


@pytest.mark.vcr
def test_two_sps_with_the_same_name_are_an_error(cli, world, http):
    first = databricks_iam.add_service_principal(world, PROD_SP, assigned_to=("prod",))
    second = databricks_iam.add_service_principal(world, PROD_SP)
    result = cli("ci.service-principals")
    assert result.code == 1
    assert (
        f"error: 2 service principals in the account are named {PROD_SP}:\n"
        f"  - id {first['id']}, application id {first['applicationId']}\n"
        f"  - id {second['id']}, application id {second['applicationId']}\n"
        "  fix: delete or rename the extra ones (User management > Service principals), or set "
        "databricks.service_principals.prod to another name\n"
    ) in result.err
    assert mutating(http()) == []  # checked before anything is created


@pytest.mark.vcr
def test_not_account_admin_gets_a_clear_error_and_no_change(cli, world, http):
    world.db["account_admin"] = False
    result = cli("ci.service-principals")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: the account refused listing service principals (403)",
        "  fix: ask an account admin to give you the Account admin role, or set "
        "databricks.sp_mode: workspace to create the SPs in each workspace instead",
        "  see: runbook/ci.md#service-principals",
    ]
    assert mutating(http()) == []


@pytest.mark.vcr
def test_workspace_mode_creates_each_sp_in_its_workspace(cli, project, world, http):
    project.write_config(databricks={"sp_mode": "workspace"})
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"create SP {STAGING_SP} (in workspace staging)",
        f"create SP {PROD_SP} (in workspace prod)",
    ]
    assert mutating(http()) == [
        f"POST {STAGING}/api/2.0/preview/scim/v2/ServicePrincipals",
        f"POST {PROD}/api/2.0/preview/scim/v2/ServicePrincipals",
    ]
    assert not any("accounts.cloud.databricks.com" in uri for _, uri in http())
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert "ci.service-principals: no changes" in again.out
    assert len(mutating(http())) == 2


def test_find_service_principal_is_cached(project, runtime, monkeypatch):
    """ci.secrets and ci.permissions ask for the SPs again: one lookup per run."""
    from mlops_setup import databricks_util
    from mlops_setup.session import load_session

    calls = []

    def fake_find(session, env):
        calls.append(env)
        return databricks_util.ServicePrincipalInfo(env, "x", "1", "app", "account")

    monkeypatch.setattr(databricks_util, "_find_service_principal", fake_find)
    session = load_session()
    for _ in range(3):
        assert databricks_util.find_service_principal(session, "prod").application_id == "app"
    assert calls == ["prod"]


# ------------------------------------------------------------------- linked (existing) SPs


def link(project, staging: str, prod: str) -> None:
    project.write_config(
        databricks={
            "service_principals": {
                "staging": {"application_id": staging},
                "prod": {"application_id": prod},
            }
        }
    )


@pytest.mark.vcr
def test_linked_sps_are_checked_not_created_and_recorded(cli, project, world, http):
    """Made centrally (another team's Terraform "link" variant): found by application id,
    assigned where missing, never created; the journal says they are linked."""
    staging = databricks_iam.add_service_principal(world, "ml-ci-staging")  # not assigned yet
    prod = databricks_iam.add_service_principal(world, "ml-ci-prod", assigned_to=("prod",))
    link(project, staging["applicationId"], prod["applicationId"])
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "== ci.service-principals: a service principal per environment ==",
        f"  ok  SP ml-ci-staging is linked (application id {staging['applicationId']}): "
        "checked, not created or changed",
        f"  ok  SP ml-ci-prod is linked (application id {prod['applicationId']}): checked, "
        "not created or changed",
        "  ok  SP ml-ci-prod is in workspace prod (USER)",
        "  +   assigned SP ml-ci-staging to workspace staging (USER)",
        "ci.service-principals: 1 added, 0 changed, 0 destroyed",
    ]
    assert mutating(http()) == [
        f"PUT {ACCOUNT}/workspaces/{STAGING_ID}/permissionassignments/principals/{staging['id']}"
    ]
    lookups = [u for m, u in http() if m == "GET" and "/scim/v2/ServicePrincipals" in u]
    assert all("applicationId+eq" in u or "applicationId%20eq" in u for u in lookups), lookups
    journal = json.loads((project.root / ".mlops-setup/journal.json").read_text())
    assert journal["ci.service-principals"] == {
        "linked": {"staging": staging["applicationId"], "prod": prod["applicationId"]}
    }
    again = cli("ci.service-principals")
    assert again.code == 0, again.err
    assert "ci.service-principals: no changes" in again.out
    assert len(mutating(http())) == 1


@pytest.mark.vcr
def test_linked_sp_that_does_not_exist_is_an_error_and_nothing_is_created(
    cli, project, world, http
):
    prod = databricks_iam.add_service_principal(world, "ml-ci-prod", assigned_to=("prod",))
    missing = databricks_iam.application_id("nobody")
    link(project, missing, prod["applicationId"])
    result = cli("ci.service-principals")
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        f"error: the linked service principal {missing} (databricks.service_principals.staging) "
        "does not exist in the account; a linked SP is never created",
        "  fix: check the application id with whoever created the SP; an SP made in a single "
        "workspace is not in the account and cannot be assigned from it (then set "
        "databricks.sp_mode: workspace)",
    ]
    assert mutating(http()) == []


@pytest.mark.vcr
def test_deactivated_linked_sp_is_named_and_left_as_it_is(cli, project, world, http):
    staging = databricks_iam.add_service_principal(world, "ml-ci-staging", assigned_to=("staging",))
    prod = databricks_iam.add_service_principal(world, "ml-ci-prod", assigned_to=("prod",))
    prod["active"] = False
    link(project, staging["applicationId"], prod["applicationId"])
    result = cli("ci.service-principals")
    assert result.code == 1
    assert (
        f"error: the linked service principal ml-ci-prod (application id {prod['applicationId']})"
        " is deactivated in the account; a linked SP is never changed by the setup"
    ) in result.err
    assert mutating(http()) == []


@pytest.mark.vcr
def test_linked_sp_in_workspace_mode_is_looked_up_in_its_workspace(cli, project, world, http):
    staging = databricks_iam.add_service_principal(world, "ws-staging", scope="staging")
    prod = databricks_iam.add_service_principal(world, "ws-prod", scope="prod")
    link(project, staging["applicationId"], prod["applicationId"])
    project.write_config(databricks={"sp_mode": "workspace"})
    result = cli("ci.service-principals")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert "ok  SP ws-prod is linked" in result.out
    assert mutating(http()) == []
    assert not any("accounts.cloud.databricks.com" in uri for _, uri in http())
